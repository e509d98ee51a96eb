"""Fetching reference inputs (the image of an image-to-image, inpainting or image-to-video job)
named by an ``http://`` or ``https://`` URL or given inline as a ``data:`` URI.

What can be checked without the network (the scheme, the URL's form, a ``data:`` URI's
contents) is checked when the job is submitted too (``check_reference``), so that such a job
is refused at once, naming the field.

A job's URL is chosen by whoever submits the job, so the worker must not become a way into the
operator's network: unless the operator allows private addresses, a host that resolves to a
loopback, private, link-local (cloud metadata), CGNAT or otherwise non-public address is
refused, on every redirect hop. The connection goes to the very address that was checked, so
a second DNS answer (rebinding) cannot swap in another one. Sizes are limited while reading,
and only PNG, JPEG, WebP and GIF pass, recognised by their bytes, never by what the server
says they are.

An image is judged by its header before it is decoded: one with more pixels than allowed is
refused, since a few kilobytes of PNG can hold a flat 9400x9400 picture that takes 265 MB as
RGB. One that is to be resized is shrunk before anything else is done to it (a JPEG is even
decoded at a reduced scale), so it never exists at full size more than once.

Every refusal raises ``InputError`` (the job fails with ``invalid_input``) with a message that
names the reference and the reason. A refused address is not named: that would let anyone who
can submit a job look up internal host names through genq. The operator's log has it, as a
warning.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import httpx
from PIL import Image

from genq.models.base import DEFAULT_REFERENCE_MAX_PIXELS, InputError

__all__ = [
    "MAX_REDIRECTS",
    "Fetched",
    "address_kind",
    "check_reference",
    "fetch_bytes",
    "fetch_image",
]

log = logging.getLogger("genq.fetch")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: What an image is resized to: a width and height, or a function of the image's own (upright)
#: width and height that gives them.
Resize = tuple[int, int] | Callable[[int, int], tuple[int, int]]

MAX_REDIRECTS = 5

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Pillow's names of the accepted formats: only their decoders get to see the bytes.
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
_REQUEST_HEADERS = {
    "Accept": "image/png,image/jpeg,image/webp,image/gif;q=0.8",
    # A compressed body could inflate a thousandfold within one chunk, before the size check
    # sees it; images gain nothing from compression anyway.
    "Accept-Encoding": "identity",
    "User-Agent": "genq",
}
_SHOWN_LENGTH = 80


@dataclass(frozen=True)
class Fetched:
    """The bytes of a reference and their content type, as recognised from the bytes."""

    data: bytes
    content_type: str


def fetch_image(
    ref: str,
    *,
    max_bytes: int,
    max_pixels: int = DEFAULT_REFERENCE_MAX_PIXELS,
    size: Resize | None = None,
    allow_private: bool = False,
    timeout: float = 20.0,
    job_id: str | None = None,
) -> Image.Image:
    """The image at ``ref`` (URL or ``data:`` URI), decoded, upright (EXIF orientation
    applied) and in RGB or RGBA; the first frame of an animation. With ``size``, resized to
    exactly that size (a function of the image's size is called before the image is decoded).

    Refuses, with ``InputError``, what ``fetch_bytes`` refuses, images that do not decode and,
    from their header, before decoding, images with more than ``max_pixels`` pixels (or more
    than Pillow's ``Image.MAX_IMAGE_PIXELS``).
    """
    fetched = fetch_bytes(
        ref, max_bytes=max_bytes, allow_private=allow_private, timeout=timeout, job_id=job_id
    )
    try:
        return _decode_image(fetched.data, max_pixels, size)
    except _Refusal as refusal:
        raise InputError(f"cannot use {_shown(ref)}: {refusal}") from refusal.__cause__


def fetch_bytes(
    ref: str,
    *,
    max_bytes: int,
    allow_private: bool = False,
    timeout: float = 20.0,
    job_id: str | None = None,
) -> Fetched:
    """The bytes of the PNG, JPEG, WebP or GIF image at ``ref``.

    ``ref`` is an ``http://`` or ``https://`` URL (at most ``MAX_REDIRECTS`` redirects) or a
    ``data:`` URI. At most ``max_bytes`` are read; ``timeout`` bounds the whole fetch (roughly:
    a read already waiting may take up to twice as long). Hosts that resolve to non-public
    addresses are refused unless ``allow_private``; the warning logged then names ``job_id``.
    """
    ref = ref.strip()
    try:
        if _is_data_uri(ref):
            data, declared = _decode_data_uri(ref, max_bytes)
        else:
            data, declared = _download(ref, max_bytes, allow_private, timeout)
        content_type = _sniff(data)
        if content_type is None:
            raise _Refusal(_not_an_image(declared))
    except _Refusal as refusal:
        via = f" (redirected to {_shown(refusal.via)})" if refusal.via else ""
        if refusal.private:
            log.warning(
                "job %s: refused the reference %s%s: %s",
                job_id or "-",
                _shown(ref),
                via,
                refusal.private,
            )
        raise InputError(f"cannot fetch {_shown(ref)}{via}: {refusal}") from refusal.__cause__
    return Fetched(data, content_type)


def check_reference(ref: str) -> None:
    """Refuse, with ``InputError`` giving the bare reason, a reference no fetch could use
    whatever the network answers: a scheme other than ``http``, ``https`` and ``data``, a
    malformed URL, a URL with credentials, a ``data:`` URI that is malformed or holds no PNG,
    JPEG, WebP or GIF image.

    Nothing is looked up or downloaded: the registry runs it on every reference input when a
    job is submitted. Which addresses a host name has is left to the fetch, in the worker.
    """
    ref = ref.strip()
    try:
        if _is_data_uri(ref):
            # The request body limit bounds it already; the worker applies its own.
            data, declared = _decode_data_uri(ref, max_bytes=len(ref))
            if _sniff(data) is None:
                raise _Refusal(_not_an_image(declared))
        else:
            _host_and_port(_parse_url(ref))
    except _Refusal as refusal:
        raise InputError(str(refusal)) from refusal.__cause__


def address_kind(address: IPAddress) -> str:
    """``"public"``, or why ``address`` is not: ``"loopback"``, ``"private"``,
    ``"link-local"``, ``"unspecified"``, ``"multicast"``, ``"reserved"`` or
    ``"shared (carrier-grade NAT)"``.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by that IPv4
    address, since that is where packets to it end up. The tables are explicit rather than
    ``ipaddress``'s ``is_private`` / ``is_global``, whose answers changed between Python patch
    releases.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_kind(embedded)
        for network, kind in _IPV6_KINDS:
            if address in network:
                return kind
        # Only 2000::/3 is allocated for global unicast; the rest is unassigned.
        return "public" if address in _IPV6_GLOBAL_UNICAST else "reserved"
    for network, kind in _IPV4_KINDS:
        if address in network:
            return kind
    return "public"


# --- addresses -------------------------------------------------------------------------------


def _networks(*table: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(network), kind) for network, kind in table)


# From the IANA special-purpose address registries.
_IPV4_KINDS = _networks(
    ("0.0.0.0/8", "unspecified"),  # "this network": Linux connects 0.0.0.0 to the host itself
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),  # includes 169.254.169.254, the cloud metadata service
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
    ("192.0.2.0/24", "reserved"),  # documentation
    ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast, deprecated
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("198.51.100.0/24", "reserved"),  # documentation
    ("203.0.113.0/24", "reserved"),  # documentation
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes the broadcast address
)
_IPV6_KINDS = _networks(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
    ("2001:db8::/32", "reserved"),  # documentation
    ("3fff::/20", "reserved"),  # documentation
    ("fc00::/7", "private"),  # unique local, e.g. fd00:ec2::254 (AWS metadata)
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # site-local, deprecated
    ("ff00::/8", "multicast"),
)
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order.

    Module-level so that tests can make test host names resolve where they need them.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def _checked_addresses(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a label IDNA cannot encode
        addresses, failure = [], str(exc)
    else:
        failure = "no address"
    if not addresses:
        if not allow_private:
            # Told apart from a private address, this would say which internal names exist.
            raise _Refusal(
                f"the host {host} does not resolve to a public address",
                private=f"{host} does not resolve ({failure})",
            )
        raise _Refusal(f"the host name {host} does not resolve ({failure})")
    if not allow_private:
        # Every address, not just the first: which one a connection uses is not ours to pick.
        for address in addresses:
            kind = address_kind(address)
            if kind != "public":
                article = "an" if kind[0] in "aeiou" else "a"
                raise _Refusal(
                    f"the host {host} does not resolve to a public address",
                    private=f"{host} resolves to {article} {kind} address "
                    f"{_address_text(address)} (reference_allow_private is off)",
                )
    return addresses


def _address_text(address: IPAddress) -> str:
    # Some Python versions print ::ffff:10.0.0.5 as ::ffff:a00:5, which hides the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


# --- HTTP ------------------------------------------------------------------------------------


class _Refusal(Exception):
    """Why a reference is refused; ``fetch_bytes`` turns it into ``InputError``."""

    def __init__(self, reason: str, *, private: str | None = None) -> None:
        super().__init__(reason)
        #: The redirect hop it happened at, when not the reference itself.
        self.via: str | None = None
        #: What only the operator may read (the refused address), for the log.
        self.private = private


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    allow_private: bool
    timeout: float
    deadline: float


def _download(
    ref: str, max_bytes: int, allow_private: bool, timeout: float
) -> tuple[bytes, str | None]:
    """The body of the URL ``ref`` and its declared content type, following redirects."""
    limits = _Limits(max_bytes, allow_private, timeout, time.monotonic() + timeout)
    url = _parse_url(ref)
    # Redirects are followed here rather than by httpx, so that every hop is checked.
    for hop in range(MAX_REDIRECTS + 1):
        try:
            answer = _get(url, limits)
        except _Refusal as refusal:
            refusal.via = str(url) if hop else None
            raise
        if not isinstance(answer, httpx.URL):
            return answer
        url = answer
    raise _Refusal(f"more than {MAX_REDIRECTS} redirects")


def _get(url: httpx.URL, limits: _Limits) -> tuple[bytes, str | None] | httpx.URL:
    """One hop: the body and its declared type, or where the server redirects to."""
    host, port = _host_and_port(url)
    addresses = _checked_addresses(host, port, limits.allow_private)
    remaining = limits.deadline - time.monotonic()
    if remaining <= 0:
        raise _Refusal(f"no answer within {limits.timeout:g} s")
    # A client per hop: a kept-alive connection must not carry a request for another host
    # name, whose certificate it never checked.
    with httpx.Client(
        verify=_tls_context(), trust_env=False, follow_redirects=False, timeout=remaining
    ) as client:
        try:
            response = _connect(client, url, host, addresses)
            try:
                if response.status_code in _REDIRECT_STATUSES:
                    return _redirect_target(url, response)
                if not response.is_success:
                    status = f"{response.status_code} {response.reason_phrase}".strip()
                    raise _Refusal(f"the server answered {status}")
                return _read(response, limits), response.headers.get("content-type")
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise _Refusal(f"no answer within {limits.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise _Refusal(f"the transfer failed ({exc})") from exc


def _parse_url(ref: str) -> httpx.URL:
    try:
        return httpx.URL(ref)
    except httpx.InvalidURL as exc:
        raise _Refusal(f"not a valid URL ({exc})") from exc


def _host_and_port(url: httpx.URL) -> tuple[str, int]:
    if url.scheme not in ("http", "https"):
        raise _Refusal("only http://, https:// and data: references are accepted")
    if url.userinfo:
        raise _Refusal("URLs with credentials are not accepted")
    # The ASCII (IDNA) form, as DNS and TLS know the name; IPv6 without brackets.
    host = url.raw_host.decode("ascii")
    if not host:
        raise _Refusal("the URL has no host")
    labels = host.removesuffix(".").split(".")
    if ":" not in host and not all(0 < len(label) < 64 for label in labels):
        raise _Refusal("the URL's host name is malformed")
    port = url.port or (443 if url.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise _Refusal("the URL's port is out of range")
    return host, port


def _connect(
    client: httpx.Client, url: httpx.URL, host: str, addresses: list[IPAddress]
) -> httpx.Response:
    """The response headers from the first of ``addresses`` that takes the connection.

    httpx would resolve the host name again when it connects, and a rebinding DNS server could
    answer differently the second time. So the request goes to the checked address itself,
    with the host name in the Host header and, for https, in the ``sni_hostname`` request
    extension, from which httpcore takes the TLS server name: SNI and certificate verification
    use the host name as if it had been in the URL. (A custom httpcore network backend could
    do the same at connect time, but httpx only takes one through its private transport
    attributes.)
    """
    headers = {**_REQUEST_HEADERS, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: httpx.ConnectError | None = None
    for address in addresses:
        request = client.build_request(
            "GET",
            url.copy_with(host=str(address), fragment=None),
            headers=headers,
            extensions=extensions,
        )
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
    raise _Refusal(f"could not connect ({failure})") from failure


def _redirect_target(url: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise _Refusal(f"the server answered {response.status_code} without a Location")
    try:
        # Relative to the URL as named, not to the address it was fetched from.
        return url.join(location)
    except httpx.InvalidURL as exc:
        raise _Refusal(f"it redirects to an invalid URL ({exc})") from exc


def _read(response: httpx.Response, limits: _Limits) -> bytes:
    """The body, refused as soon as it is larger than the limit."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise _Refusal(f"larger than the {_size(limits.max_bytes)} limit ({declared} bytes)")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limits.max_bytes:
            raise _Refusal(f"larger than the {_size(limits.max_bytes)} limit")
        if time.monotonic() > limits.deadline:
            raise _Refusal(f"no answer within {limits.timeout:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """What servers are verified with (httpx's default: certifi's CAs, or ``SSL_CERT_FILE``);
    one for the process, and module-level so that tests can trust their own CA."""
    return httpx.create_ssl_context()


# --- data: URIs ------------------------------------------------------------------------------


def _is_data_uri(ref: str) -> bool:
    return ref[:5].lower() == "data:"


def _decode_data_uri(ref: str, max_bytes: int) -> tuple[bytes, str | None]:
    """The bytes of a ``data:[<type>][;base64],<data>`` URI and its declared type."""
    header, comma, payload = ref[5:].partition(",")
    if not comma:
        raise _Refusal("a data: URI needs a comma before its data")
    params = [part.strip().lower() for part in header.split(";")]
    declared = params[0] or None
    if len(params) > 1 and params[-1] == "base64":
        data = _decode_base64(payload, max_bytes)
    else:
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise _Refusal(f"larger than the {_size(max_bytes)} limit")
    return data, declared


def _decode_base64(payload: str, max_bytes: int) -> bytes:
    compact = "".join(payload.split())
    if "%" in compact:  # base64 inside a URL may have its + / = percent-encoded
        compact = unquote_to_bytes(compact).decode("ascii", errors="replace")
    # Refused before decoding: four characters make three bytes.
    if (len(compact) - compact.count("=")) * 3 // 4 > max_bytes:
        raise _Refusal(f"larger than the {_size(max_bytes)} limit")
    try:
        # Missing padding is common in hand-made URIs and harmless.
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Refusal(f"its base64 data is not valid ({exc})") from exc


# --- images ----------------------------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    """The content type of PNG, JPEG, WebP and GIF bytes, from their signatures."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _not_an_image(declared: str | None) -> str:
    accepted = "a PNG, JPEG, WebP or GIF image"
    if declared is None:
        return f"not {accepted}"
    kind = _shown(declared.split(";")[0].strip())
    if kind.startswith("image/"):  # SVG, BMP, TIFF, ... or a lie
        return f"not {accepted} (declared as {kind})"
    return f"not an image ({kind})"


# EXIF orientation -> the turn that makes the picture upright, as ImageOps.exif_transpose has it.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIDEWAYS = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112


def _decode_image(data: bytes, max_pixels: int, size: Resize | None) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as image:
            # The header is all that has been read: refuse before the pixels take memory.
            limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
            if image.width * image.height > limit:
                raise _Refusal(
                    f"{image.width}x{image.height} is more than the {limit} pixels allowed"
                )
            # Photos are often stored sideways with an EXIF tag saying how to turn them,
            # which browsers obey; a model should see what the user saw.
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
            sideways = orientation in _SIDEWAYS
            stored: tuple[int, int] | None = None
            if size is not None:
                upright = (image.height, image.width) if sideways else image.size
                width, height = size(*upright) if callable(size) else size
                stored = (height, width) if sideways else (width, height)
                # A JPEG decodes at 1/2, 1/4 or 1/8 scale where that is still as large.
                image.draft(None, stored)
            image.load()
            mode = "RGBA" if image.has_transparency_data else "RGB"
            picture: Image.Image = image if image.mode == mode else image.convert(mode)
            if stored is not None and picture.size != stored:
                picture = picture.resize(stored, Image.Resampling.LANCZOS, reducing_gap=3.0)
            if orientation in _UPRIGHT:
                picture = picture.transpose(_UPRIGHT[orientation])
            return picture
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _Refusal(f"too many pixels ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # What Pillow raises for truncated or corrupt files.
        raise _Refusal(f"not a readable image ({exc})") from exc


# --- messages --------------------------------------------------------------------------------


def _shown(ref: str) -> str:
    """``ref`` for a message: control characters replaced, long ones (data: URIs) cut."""
    shown = "".join(c if c.isprintable() else "?" for c in ref[: _SHOWN_LENGTH + 1])
    if len(ref) > _SHOWN_LENGTH:
        return f"{shown[:_SHOWN_LENGTH]}... ({len(ref)} characters)"
    return shown


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
