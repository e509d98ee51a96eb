"""Verifying the webhook calls a genq server makes, as the Standard Webhooks specification
signs them (https://www.standardwebhooks.com), in a receiver that has only the client::

    import genq

    event = genq.webhooks.verify(secret, request.headers, request.body)  # the job, as JSON

``secret`` is the account's signing secret (``whsec_...``, from ``GET
/v1/webhooks/default/secret``). Each call carries ``webhook-id`` (the same on every retry of
one call: drop repeats by it), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, several separated by spaces).

The server signs with ``sign`` from here too: one implementation of the scheme.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from genq.client._errors import GenqError

__all__ = ["SECRET_PREFIX", "TOLERANCE_SECONDS", "WebhookVerificationError", "sign", "verify"]

SECRET_PREFIX = "whsec_"
#: How far a call's timestamp may be from the receiver's clock, either way (replays older than
#: this are refused).
TOLERANCE_SECONDS = 300


class WebhookVerificationError(GenqError):
    """A webhook call whose signature, or timestamp, does not hold."""


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("the secret is not whsec_ followed by base64") from exc
    # An empty key is one anybody can sign with.
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` header of one call: ``v1,`` and the base64 HMAC-SHA256 of
    ``id.timestamp.body`` keyed with the secret's decoded bytes."""
    data = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + data
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """The call's body, parsed as JSON, once its signature and timestamp hold.

    ``headers`` may be any mapping (names in any case); ``body`` must be the bytes as
    received, before any parsing. Raises ``WebhookVerificationError`` when the secret is
    empty, a header is missing (or ``webhook-id`` empty), no ``v1`` signature matches, or
    the timestamp is more than ``tolerance`` seconds from ``now`` (default: the clock).
    """
    found = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = found["webhook-id"]
        stamp = found["webhook-timestamp"]
        signatures = found["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"the {exc.args[0]} header is missing") from None
    if not msg_id:
        raise WebhookVerificationError("the webhook-id header is empty")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(f"v1,{value}".encode(), expected):
            return json.loads(body)
    raise WebhookVerificationError("no signature matches")
