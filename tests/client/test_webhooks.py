"""``genq.webhooks.verify`` accepts what the independent ``standardwebhooks`` package signs,
and refuses a wrong signature, a stale or future timestamp, missing headers, an empty secret
and an empty ``webhook-id``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

import genq
from genq.webhooks import WebhookVerificationError, new_secret, sign

BODY = b'{"id": "job_1", "event": "completed"}'


def signed(secret: str, at: float | None = None) -> dict[str, str]:
    moment = datetime.fromtimestamp(at or time.time(), UTC)
    signature = standardwebhooks.Webhook(secret).sign("msg_1", moment, BODY.decode())
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def test_a_call_signed_by_standardwebhooks_verifies() -> None:
    """The body comes back parsed; header names may be in any case; sign() agrees with the
    reference implementation."""
    secret = new_secret()
    headers = signed(secret)
    assert genq.webhooks.verify(secret, headers, BODY) == {"id": "job_1", "event": "completed"}
    upper = {name.upper(): value for name, value in headers.items()}
    assert genq.webhooks.verify(secret, upper, BODY.decode())["id"] == "job_1"
    stamp = int(headers["webhook-timestamp"])
    assert sign(secret, "msg_1", stamp, BODY) == headers["webhook-signature"]


def test_several_signatures_one_of_which_matches() -> None:
    """A header with several signatures (a secret being rotated) verifies if one matches."""
    secret = new_secret()
    headers = signed(secret)
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert genq.webhooks.verify(secret, headers, BODY)["event"] == "completed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, s: {**h, "webhook-signature": "v1,AAAA"}, "no signature matches"),
        (lambda h, s: signed(new_secret()), "no signature matches"),
        (lambda h, s: signed(s, time.time() - 600), "too old or too new"),
        (lambda h, s: signed(s, time.time() + 600), "too old or too new"),
        (lambda h, s: {k: v for k, v in h.items() if k != "webhook-id"}, "webhook-id"),
        (lambda h, s: {**h, "webhook-timestamp": "soon"}, "not an integer"),
    ],
)
def test_bad_calls_are_refused(change: object, message: str) -> None:
    """A wrong signature, another secret's, a timestamp 10 minutes off, a missing header."""
    secret = new_secret()
    headers = change(signed(secret), secret)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError, match=message):
        genq.webhooks.verify(secret, headers, BODY)


def test_a_tampered_body_is_refused() -> None:
    """The body is signed: one changed byte fails."""
    secret = new_secret()
    with pytest.raises(WebhookVerificationError):
        genq.webhooks.verify(secret, signed(secret), BODY.replace(b"job_1", b"job_2"))
    assert issubclass(WebhookVerificationError, genq.GenqError)


def forged(msg_id: str, key: bytes) -> dict[str, str]:
    """Headers signed with the raw ``key``, as anyone who knows it can sign."""
    stamp = int(time.time())
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + BODY, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


@pytest.mark.parametrize("secret", ["", "whsec_"])
def test_an_empty_secret_is_refused(secret: str) -> None:
    """An empty secret would accept a call anyone signed with the empty key: it raises."""
    with pytest.raises(WebhookVerificationError, match="secret is empty"):
        genq.webhooks.verify(secret, forged("msg_1", b""), BODY)


def test_an_empty_webhook_id_is_refused() -> None:
    """A call must name itself: an empty ``webhook-id`` is refused, even signed."""
    secret = new_secret()
    headers = forged("", base64.b64decode(secret.removeprefix("whsec_")))
    with pytest.raises(WebhookVerificationError, match="webhook-id header is empty"):
        genq.webhooks.verify(secret, headers, BODY)
