"""`genq webhooks list|create|delete|enable|disable|rotate-secret|deliveries|redeliver` against
a real `genq serve` that calls a real receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.invoke import genq, succeeded
from tests.conftest import Backend, GenqServer, wait_for, wait_until
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import HOOK_SETTINGS

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def hooked(
    tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend
) -> Iterator[GenqServer]:
    """A server that may call loopback receivers over http, shared by this module's tests."""
    directory: Path = tmp_path_factory.mktemp("hooked")
    server = GenqServer(directory / "data", backend=shared_backend, **HOOK_SETTINGS).start()
    yield server
    server.close()


def create(server: GenqServer, *args: str) -> dict[str, Any]:
    return dict(json.loads(succeeded(genq(server, "webhooks", "create", *args, "--json")).stdout))


def run(server: GenqServer, **body: Any) -> str:
    """A noop job, submitted with ``body`` and followed to its end: its id."""
    with server.client() as api:
        made = api.post("/v1/jobs", json={"model": "noop", **body})
        assert made.status_code == 202, made.text
        return str(wait_for(api, made.json()["id"])["id"])


def calls(server: GenqServer, *args: str) -> list[dict[str, Any]]:
    result = succeeded(genq(server, "webhooks", "deliveries", *args, "--json"))
    return list(json.loads(result.stdout))


def test_webhooks_create_and_list(hooked: GenqServer, receiver: Receiver) -> None:
    """`genq webhooks create` prints the endpoint with its secret and says it is shown once;
    `genq webhooks list` tabulates the endpoints, without secrets with --json."""
    result = succeeded(
        genq(
            hooked,
            "webhooks",
            "create",
            receiver.url,
            "--event",
            "start",
            "-e",
            "completed",
            "--model",
            "noop",
            "--description",
            "from the cli",
        )
    )
    assert "whsec_" in result.stdout
    for expected in (receiver.url, "start, completed", "noop", "from the cli", "enabled"):
        assert expected in result.stdout
    assert "shown this once" in result.stderr
    made = create(hooked, "https://93.184.215.14/genq")
    assert made["secret"].startswith("whsec_")
    assert (made["events"], made["models"]) == (["completed"], None)

    table = succeeded(genq(hooked, "webhooks", "list")).stdout
    assert "whsec_" not in table
    for expected in (made["id"], receiver.url, "every model", "from the cli", "enabled"):
        assert expected in table
    listed = json.loads(succeeded(genq(hooked, "webhooks", "list", "--json")).stdout)
    assert made["id"] in [endpoint["id"] for endpoint in listed]
    assert not any("secret" in endpoint for endpoint in listed)
    for endpoint in listed:
        succeeded(genq(hooked, "webhooks", "delete", endpoint["id"]))
    assert "no webhook endpoints" in succeeded(genq(hooked, "webhooks", "list")).stderr


def test_webhooks_disable_enable_rotate_and_delete(hooked: GenqServer) -> None:
    """Each prints one line (rotate-secret: the endpoint with its new secret), or the server's
    JSON with --json."""
    made = create(hooked, "https://93.184.215.14/genq")
    wh = made["id"]
    off = succeeded(genq(hooked, "webhooks", "disable", wh)).stdout
    assert off == f"{wh}: disabled: disabled by its account\n"
    assert succeeded(genq(hooked, "webhooks", "enable", wh)).stdout == f"{wh}: enabled\n"
    shown = json.loads(succeeded(genq(hooked, "webhooks", "disable", wh, "--json")).stdout)
    assert (shown["id"], shown["enabled"]) == (wh, False)
    assert json.loads(succeeded(genq(hooked, "webhooks", "enable", wh, "--json")).stdout)["enabled"]

    rotated = succeeded(genq(hooked, "webhooks", "rotate-secret", wh))
    assert "whsec_" in rotated.stdout
    assert made["secret"] not in rotated.stdout
    assert "24 hours" in rotated.stderr
    again = json.loads(succeeded(genq(hooked, "webhooks", "rotate-secret", wh, "--json")).stdout)
    assert again["secret"].startswith("whsec_")
    assert again["secret"] not in rotated.stdout

    assert succeeded(genq(hooked, "webhooks", "delete", wh)).stdout == f"deleted {wh}\n"
    other = create(hooked, "https://93.184.215.14/genq")["id"]
    deleted = json.loads(succeeded(genq(hooked, "webhooks", "delete", other, "--json")).stdout)
    assert deleted == {"object": "webhook", "id": other, "deleted": True}


def test_webhooks_deliveries_and_redeliver(hooked: GenqServer, receiver: Receiver) -> None:
    """`genq webhooks deliveries` lists the calls newest first (a job's own webhook as such),
    filtered by job, endpoint, state and limit; `genq webhooks redeliver` sends one again and
    prints it."""
    wh = create(hooked, receiver.url)["id"]
    first = run(hooked)
    own = run(hooked, webhook=receiver.url)
    wait_until(lambda: {c["state"] for c in calls(hooked, "--job", own)} == {"delivered"})
    wait_until(lambda: [c["state"] for c in calls(hooked, "--job", first)] == ["delivered"])

    table = succeeded(genq(hooked, "webhooks", "deliveries")).stdout
    for expected in (first, own, wh, "(job's own)", "completed", "delivered", "200"):
        assert expected in table
    assert table.index(own) < table.index(first)
    of_own = calls(hooked, "--job", own)
    assert sorted(c["webhook_id"] or "" for c in of_own) == sorted(["", wh])
    [of_first] = calls(hooked, "--job", first, "--webhook", wh)
    assert (of_first["state"], of_first["last_status"], of_first["attempts"]) == (
        "delivered",
        200,
        1,
    )
    assert len(calls(hooked, "--limit", "1")) == 1
    assert calls(hooked, "--state", "failed") == []
    assert (
        "no webhook calls"
        in succeeded(genq(hooked, "webhooks", "deliveries", "--state", "failed")).stderr
    )

    view = succeeded(genq(hooked, "webhooks", "redeliver", of_first["id"])).stdout
    for expected in (of_first["id"], first, wh, "pending", receiver.url):
        assert expected in view
    wait_until(lambda: [c.id for c in receiver.calls].count(of_first["id"]) == 2)
    wait_until(lambda: calls(hooked, "--job", first)[0]["state"] == "delivered")
    sent = json.loads(
        succeeded(genq(hooked, "webhooks", "redeliver", of_first["id"], "--json")).stdout
    )
    assert (sent["id"], sent["state"], sent["object"]) == (
        of_first["id"],
        "pending",
        "webhook_delivery",
    )
    succeeded(genq(hooked, "webhooks", "delete", wh))


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("delete", "wh_nothing"), "webhook_not_found"),
        (("enable", "wh_nothing"), "webhook_not_found"),
        (("disable", "wh_nothing"), "webhook_not_found"),
        (("rotate-secret", "wh_nothing"), "webhook_not_found"),
        (("redeliver", "msg_nothing"), "delivery_not_found"),
        (("deliveries", "--state", "lost"), "validation_error"),
        (("create", "https://93.184.215.14/genq", "--event", "finished"), "validation_error"),
    ],
)
def test_webhooks_errors_exit_1_with_the_code(
    hooked: GenqServer, args: tuple[str, ...], code: str
) -> None:
    """An unknown endpoint or call, or a value the server refuses: `error: MESSAGE (CODE)` on
    stderr, exit status 1."""
    result = genq(hooked, "webhooks", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.rstrip().endswith(f"({code})")
