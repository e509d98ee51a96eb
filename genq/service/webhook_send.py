"""One attempt of a webhook call: resolve and check the host (``webhook_guard``), then POST
the signed body to the checked address itself, within one deadline, without following
redirects."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from genq import __version__
from genq.service import webhook_guard as guard
from genq.webhooks import sign


@dataclass(frozen=True)
class Answer:
    """How an attempt went: the receiver's status (None: no answer) and, with 429, how long
    it asked genq to wait; ``error`` says what went wrong, ``refused`` that the address may
    never be called."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (ASCII digits, or an HTTP date with its
    zone); None if absent or anything else: a receiver's header never fails a call."""
    if not value:
        return None
    value = value.strip()
    # str.isdigit() alone takes "²" and other digits float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


async def attempt(
    url: str,
    msg_id: str,
    body: bytes,
    secrets: Sequence[str],
    *,
    timeout: float,
    allow_http: bool,
    allow_private: bool,
) -> Answer:
    """POST ``body`` to ``url`` as the call ``msg_id``, signed with each of ``secrets`` (a
    signature each, as Standard Webhooks allows while a secret is being replaced)."""
    try:
        parsed, host, port = guard.parse_webhook(url, allow_http=allow_http)
        async with asyncio.timeout(timeout):
            addresses = await guard.resolve(host, port, allow_private=allow_private)
            return await _post(parsed, host, addresses, msg_id, body, secrets, timeout)
    except guard.Refused as refused:
        return Answer(None, str(refused), refused=True)
    except TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s")
    except (OSError, UnicodeError) as exc:
        return Answer(None, f"cannot resolve the host ({exc})")


async def _post(
    url: httpx.URL,
    host: str,
    addresses: list[guard.IPAddress],
    msg_id: str,
    body: bytes,
    secrets: Sequence[str],
    timeout: float,
) -> Answer:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"genq/{__version__}",
        "Host": url.netloc.decode("ascii"),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }
    # As genq.media.fetch does: the request goes to the checked address, with the host name
    # in the Host header and as the TLS server name; a client per call, so that no kept-alive
    # connection carries a request for a host name whose certificate it never checked.
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: Exception | None = None
    async with httpx.AsyncClient(
        verify=_tls_context(), trust_env=False, follow_redirects=False, timeout=timeout
    ) as client:
        for address in addresses:
            request = client.build_request(
                "POST",
                url.copy_with(host=str(address), fragment=None),
                headers=headers,
                content=body,
                extensions=extensions,
            )
            try:
                response = await client.send(request)
            except httpx.ConnectError as exc:
                failure = exc
                continue
            except httpx.TimeoutException:
                return Answer(None, f"no answer within {timeout:g} s")
            except httpx.HTTPError as exc:
                return Answer(None, f"the call failed ({type(exc).__name__}: {exc})")
            status = response.status_code
            if response.is_success:
                return Answer(status)
            wait = None
            if status == 429:
                wait = retry_after(response.headers.get("retry-after"), time.time())
            return Answer(status, f"the receiver answered {status}", retry_after=wait)
    return Answer(None, f"cannot connect ({failure})")
