"""What a submit's webhook must be (checked before the job is queued, a 422 naming the
field), and the account's default signing secret."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def submit(api: httpx.Client, **body: object) -> httpx.Response:
    return api.post("/v1/jobs", json={"model": "noop", **body})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1/hook", "does not resolve to a public address"),
        ("https://[::1]:8443/hook", "does not resolve to a public address"),
        ("https://10.1.2.3/hook", "does not resolve to a public address"),
        ("https://169.254.169.254/latest/meta-data", "does not resolve to a public address"),
        ("https://[::ffff:192.168.0.1]/hook", "does not resolve to a public address"),
        ("https://localhost/hook", "does not resolve to a public address"),
        ("http://93.184.215.14/hook", "only https:// URLs are accepted"),
        ("ftp://example.com/hook", "only https:// URLs are accepted"),
        ("https://user:pw@example.com/hook", "URLs with credentials"),
        ("not a url", "only https:// URLs are accepted"),
    ],
)
def test_webhooks_genq_would_not_call_are_refused(
    api: httpx.Client, url: str, message: str
) -> None:
    """Loopback, private, link-local and IPv4-mapped private addresses, names that resolve
    to them, plain http and other schemes are a 422 on ``webhook``; no job is queued."""
    answer = submit(api, webhook=url)
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["error"]["details"]
    assert detail["path"] == "webhook"
    assert message in detail["message"]


def test_webhook_events_are_checked(api: httpx.Client) -> None:
    """An unknown event is a 422, as are events without a webhook; a webhook without events
    is called on ``completed``."""
    assert (
        submit(api, webhook="https://93.184.215.14/h", webhook_events=["done"]).status_code == 422
    )
    assert submit(api, webhook_events=["completed"]).status_code == 422
    made = submit(api, webhook="https://93.184.215.14/h")
    assert made.status_code == 202, made.text
    assert made.json()["webhook_events"] == ["completed"]


def test_the_default_secret_is_made_once_per_account(server: GenqServer) -> None:
    """``GET /v1/webhooks/default/secret`` answers the same ``whsec_`` key every time, 32
    random bytes, another for another account."""
    with server.client() as client:
        first = client.get("/v1/webhooks/default/secret").json()
        assert client.get("/v1/webhooks/default/secret").json() == first
    assert first["key"].startswith("whsec_")
    assert len(base64.b64decode(first["key"].removeprefix("whsec_"))) == 32
    with server.client(server.new_key("webhook-other")) as client:
        assert client.get("/v1/webhooks/default/secret").json() != first
