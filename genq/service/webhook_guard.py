"""Where a webhook may point: the same rule as reference images (``genq.media.addresses``).

A webhook's URL is chosen by whoever submits the job, so genq must not become a way into the
operator's network: unless ``webhook_allow_private`` is set, a host that is or resolves to a
loopback, private, link-local (cloud metadata), CGNAT or otherwise non-public address is
refused, at submit (a 422 naming the field) and again at each delivery, after resolving,
where the call then goes to the very address that was checked (a second DNS answer cannot
swap in another). ``https`` only, unless ``webhook_allow_http``. Redirects are never
followed. A refusal says why without naming the address: that would let anyone who can submit
a job look up internal host names through genq.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from genq.media.addresses import IPAddress, address_kind, address_text

#: Longest a submit waits for the webhook's host name to resolve; past it the submit goes on
#: and the delivery checks again.
SUBMIT_RESOLVE_SECONDS = 2.0
MAX_URL_CHARS = 2000


class Refused(Exception):
    """Why a webhook URL or address is refused; ``private`` is for the operator's log."""

    def __init__(self, reason: str, *, private: str | None = None) -> None:
        super().__init__(reason)
        self.private = private


def parse_webhook(url: str, *, allow_http: bool) -> tuple[httpx.URL, str, int]:
    """The URL, its host (ASCII, IPv6 without brackets) and port; ``Refused`` for one genq
    would never call."""
    if len(url) > MAX_URL_CHARS:
        raise Refused(f"longer than {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Refused(f"not a valid URL ({exc})") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise Refused(
            "only http:// and https:// URLs are accepted"
            if allow_http
            else "only https:// URLs are accepted (webhook_allow_http is off)"
        )
    if parsed.userinfo:
        raise Refused("URLs with credentials are not accepted")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise Refused("the URL has no host")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise Refused(f"the port {port} is not one from 1 to 65535")
    return parsed, host, port


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check(host: str, addresses: list[IPAddress]) -> None:
    # Every address, not just the first: which one a connection uses is not ours to pick.
    for address in addresses:
        kind = address_kind(address)
        if kind != "public":
            raise Refused(
                f"the host {host} does not resolve to a public address",
                private=f"{host} resolves to a {kind} address {address_text(address)}"
                " (webhook_allow_private is off)",
            )


async def resolve(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The addresses to call ``host`` at, each checked; ``Refused`` when one is not public
    (unless ``allow_private``) or the name does not resolve. ``OSError`` for a lookup that
    failed for now (a retry may succeed)."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        if not addresses:
            raise Refused(f"the host name {host} does not resolve")
    if not allow_private:
        _check(host, addresses)
    return addresses


async def check_at_submit(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """``Refused`` for a webhook no delivery could call: a bad URL, a scheme not allowed, an
    address (literal, or resolved within ``SUBMIT_RESOLVE_SECONDS``) that is not public."""
    _, host, port = parse_webhook(url, allow_http=allow_http)
    if allow_private:
        return
    try:
        async with asyncio.timeout(SUBMIT_RESOLVE_SECONDS):
            await resolve(host, port, allow_private=False)
    except TimeoutError:
        return
    except (OSError, UnicodeError):
        # Told apart from a private address, this would say which internal names exist.
        raise Refused(f"the host {host} does not resolve to a public address") from None
