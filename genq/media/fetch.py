"""Fetching reference inputs (the image of an image-to-image, inpainting or image-to-video job,
``fetch_image``; the sound a speech model transcribes or a voice is cloned from, ``fetch_audio``)
named by an ``http://`` or ``https://`` URL or given inline as a ``data:`` URI; and, for models
that take files of any kind (a Cog predictor's ``Path`` inputs), such files (``fetch_file``).

What can be checked without the network (the scheme, the URL's form, a ``data:`` URI's
contents) is checked when the job is submitted too (``check_reference``, in
``genq.media.reference``), so that such a job is refused at once, naming the field.

A job's URL is chosen by whoever submits the job, so the worker must not become a way into the
operator's network: unless the operator allows private addresses, a host that resolves to a
loopback, private, link-local (cloud metadata), CGNAT or otherwise non-public address is
refused, on every redirect hop. The connection goes to the very address that was checked, so
a second DNS answer (rebinding) cannot swap in another one. Sizes are limited while reading,
and only PNG, JPEG, WebP and GIF images pass, or WAV, FLAC, MP3, AAC, OGG, WebM and M4A
sounds, recognised by their bytes, never by what the server says they are. An image's pixels
are counted from its header before it is decoded; a sound's length from its header, and again
while it is decoded.

Every refusal raises ``RefusedReference``, an ``InputError`` (the job fails with
``invalid_input``), with a message that names the reference and the reason, and a bounded kind
of refusal for the operator's figures. A refused address is not named: that would let anyone who
can submit a job look up internal host names through genq. The operator's log has it, as a
warning.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import mimetypes
import re
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httpx
from PIL import Image

from genq.media.addresses import IPAddress, address_kind, address_text
from genq.media.audio import decode_audio
from genq.media.reference import (
    ReferenceKind,
    Refusal,
    RefusedReference,
    Resize,
    check_audio_reference,
    check_reference,
    decode_data_uri,
    decode_image,
    host_and_port,
    is_data_uri,
    not_of_kind,
    parse_url,
    shown,
    size_text,
    sniff,
    sniff_as,
)
from genq.models.base import DEFAULT_REFERENCE_MAX_PIXELS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "MAX_REDIRECTS",
    "Fetched",
    "IPAddress",
    "RefusedReference",
    "Resize",
    "address_kind",
    "check_audio_reference",
    "check_reference",
    "fetch_audio",
    "fetch_bytes",
    "fetch_file",
    "fetch_image",
]

log = logging.getLogger("genq.fetch")

MAX_REDIRECTS = 5

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ACCEPT: dict[ReferenceKind, str] = {
    "image": "image/png,image/jpeg,image/webp,image/gif;q=0.8",
    # Servers name these types in more ways than one (audio/x-wav, audio/x-m4a, ...).
    "audio": "audio/wav,audio/flac,audio/mpeg,audio/ogg,audio/webm,audio/mp4,audio/aac,"
    "audio/*;q=0.8",
}
_REQUEST_HEADERS = {
    # A compressed body could inflate a thousandfold within one chunk, before the size check
    # sees it; images and sounds gain nothing from compression anyway.
    "Accept-Encoding": "identity",
    "User-Agent": "genq",
}


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
        return decode_image(fetched.data, max_pixels, size)
    except Refusal as refusal:
        raise RefusedReference(
            f"cannot use {shown(ref)}: {refusal}", refusal.kind
        ) from refusal.__cause__


def fetch_audio(
    ref: str,
    *,
    sample_rate: int,
    max_seconds: float,
    max_bytes: int,
    allow_private: bool = False,
    timeout: float = 20.0,
    job_id: str | None = None,
) -> npt.NDArray[np.float32]:
    """The sound at ``ref`` (URL or ``data:`` URI), decoded to one channel (the mean of its
    channels) of float32 samples in [-1, 1] at ``sample_rate``.

    Refuses, with ``InputError``, what ``fetch_bytes`` refuses, sounds that do not decode or
    hold no sound, and sounds longer than ``max_seconds``: from their header, before decoding,
    and while decoding, which stops there (a header may lie), so that no sound takes more
    memory than ``max_seconds`` of samples.
    """
    fetched = fetch_bytes(
        ref,
        max_bytes=max_bytes,
        allow_private=allow_private,
        timeout=timeout,
        job_id=job_id,
        kind="audio",
    )
    try:
        return decode_audio(fetched.data, sample_rate=sample_rate, max_seconds=max_seconds)
    except Refusal as refusal:
        raise RefusedReference(
            f"cannot use {shown(ref)}: {refusal}", refusal.kind
        ) from refusal.__cause__


def fetch_bytes(
    ref: str,
    *,
    max_bytes: int,
    allow_private: bool = False,
    timeout: float = 20.0,
    job_id: str | None = None,
    any_type: bool = False,
    kind: ReferenceKind = "image",
) -> Fetched:
    """The bytes of the PNG, JPEG, WebP or GIF image at ``ref``, or with ``kind="audio"`` of
    the WAV, FLAC, MP3, AAC, OGG, WebM or M4A sound (with ``any_type``: of any file, its type
    recognised from the bytes for those images, else as declared).

    ``ref`` is an ``http://`` or ``https://`` URL (at most ``MAX_REDIRECTS`` redirects) or a
    ``data:`` URI. At most ``max_bytes`` are read; ``timeout`` bounds the whole fetch (roughly:
    a read already waiting may take up to twice as long). Hosts that resolve to non-public
    addresses are refused unless ``allow_private``; the warning logged then names ``job_id``.
    """
    ref = ref.strip()
    try:
        if is_data_uri(ref):
            data, declared = decode_data_uri(ref, max_bytes)
        else:
            accept = "*/*" if any_type else _ACCEPT[kind]
            data, declared = _download(ref, max_bytes, allow_private, timeout, accept)
        content_type: str | None
        if any_type:
            content_type = sniff(data) or _declared_type(declared) or "application/octet-stream"
        else:
            content_type = sniff_as(kind, data)
        if content_type is None:
            raise Refusal(not_of_kind(kind, declared), kind="bad_type")
    except Refusal as refusal:
        via = f" (redirected to {shown(refusal.via)})" if refusal.via else ""
        if refusal.private:
            log.warning(
                "job %s: refused the reference %s%s: %s",
                job_id or "-",
                shown(ref),
                via,
                refusal.private,
            )
        raise RefusedReference(
            f"cannot fetch {shown(ref)}{via}: {refusal}", refusal.kind
        ) from refusal.__cause__
    return Fetched(data, content_type)


def fetch_file(
    ref: str,
    folder: Path,
    *,
    max_bytes: int,
    allow_private: bool = False,
    timeout: float = 20.0,
    job_id: str | None = None,
) -> tuple[Path, str]:
    """The file at ``ref``, of any type, saved in ``folder`` and its content type.

    It is fetched as ``fetch_bytes(..., any_type=True)`` fetches it, with the same refusals
    (``InputError``) but for the type, and named after the URL's last path segment (only
    letters, digits, ``.``, ``-`` and ``_`` kept), or ``file``, with the suffix of its type
    when the name has none.
    """
    fetched = fetch_bytes(
        ref,
        max_bytes=max_bytes,
        allow_private=allow_private,
        timeout=timeout,
        job_id=job_id,
        any_type=True,
    )
    path = folder / _file_name(ref.strip(), fetched.content_type)
    path.write_bytes(fetched.data)
    return path, fetched.content_type


def _declared_type(declared: str | None) -> str | None:
    """A declared content type without its parameters, if it looks like one."""
    kind = (declared or "").split(";")[0].strip().lower()
    return kind if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", kind) else None


def _file_name(ref: str, content_type: str) -> str:
    name = "" if is_data_uri(ref) else unquote(parse_url(ref).path.rsplit("/", 1)[-1])
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[-100:].lstrip(".") or "file"
    if "." not in name:
        name += mimetypes.guess_extension(content_type) or ""
    return name


# --- addresses -------------------------------------------------------------------------------


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
            raise Refusal(
                f"the host {host} does not resolve to a public address",
                private=f"{host} does not resolve ({failure})",
                kind="fetch_failed",
            )
        raise Refusal(f"the host name {host} does not resolve ({failure})", kind="fetch_failed")
    if not allow_private:
        # Every address, not just the first: which one a connection uses is not ours to pick.
        for address in addresses:
            kind = address_kind(address)
            if kind != "public":
                article = "an" if kind[0] in "aeiou" else "a"
                raise Refusal(
                    f"the host {host} does not resolve to a public address",
                    private=f"{host} resolves to {article} {kind} address "
                    f"{address_text(address)} (reference_allow_private is off)",
                    kind="private_address",
                )
    return addresses


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    allow_private: bool
    timeout: float
    deadline: float
    #: The request's Accept header.
    accept: str


def _download(
    ref: str, max_bytes: int, allow_private: bool, timeout: float, accept: str
) -> tuple[bytes, str | None]:
    """The body of the URL ``ref`` and its declared content type, following redirects."""
    limits = _Limits(max_bytes, allow_private, timeout, time.monotonic() + timeout, accept)
    url = parse_url(ref)
    # Redirects are followed here rather than by httpx, so that every hop is checked.
    for hop in range(MAX_REDIRECTS + 1):
        try:
            answer = _get(url, limits)
        except Refusal as refusal:
            refusal.via = str(url) if hop else None
            raise
        if not isinstance(answer, httpx.URL):
            return answer
        url = answer
    raise Refusal(f"more than {MAX_REDIRECTS} redirects", kind="fetch_failed")


def _get(url: httpx.URL, limits: _Limits) -> tuple[bytes, str | None] | httpx.URL:
    """One hop: the body and its declared type, or where the server redirects to."""
    host, port = host_and_port(url)
    addresses = _checked_addresses(host, port, limits.allow_private)
    remaining = limits.deadline - time.monotonic()
    if remaining <= 0:
        raise Refusal(f"no answer within {limits.timeout:g} s", kind="fetch_failed")
    # A client per hop: a kept-alive connection must not carry a request for another host
    # name, whose certificate it never checked.
    with httpx.Client(
        verify=_tls_context(), trust_env=False, follow_redirects=False, timeout=remaining
    ) as client:
        try:
            response = _connect(client, url, host, addresses, limits.accept)
            try:
                if response.status_code in _REDIRECT_STATUSES:
                    return _redirect_target(url, response)
                if not response.is_success:
                    status = f"{response.status_code} {response.reason_phrase}".strip()
                    raise Refusal(f"the server answered {status}", kind="fetch_failed")
                return _read(response, limits), response.headers.get("content-type")
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise Refusal(f"no answer within {limits.timeout:g} s", kind="fetch_failed") from exc
        except httpx.HTTPError as exc:
            raise Refusal(f"the transfer failed ({exc})", kind="fetch_failed") from exc


def _connect(
    client: httpx.Client, url: httpx.URL, host: str, addresses: list[IPAddress], accept: str
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
    headers = {**_REQUEST_HEADERS, "Accept": accept, "Host": url.netloc.decode("ascii")}
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
    raise Refusal(f"could not connect ({failure})", kind="fetch_failed") from failure


def _redirect_target(url: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise Refusal(
            f"the server answered {response.status_code} without a Location", kind="fetch_failed"
        )
    try:
        # Relative to the URL as named, not to the address it was fetched from.
        return url.join(location)
    except httpx.InvalidURL as exc:
        raise Refusal(f"it redirects to an invalid URL ({exc})", kind="fetch_failed") from exc


def _read(response: httpx.Response, limits: _Limits) -> bytes:
    """The body, refused as soon as it is larger than the limit."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise Refusal(
            f"larger than the {size_text(limits.max_bytes)} limit ({declared} bytes)",
            kind="too_large",
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limits.max_bytes:
            raise Refusal(f"larger than the {size_text(limits.max_bytes)} limit", kind="too_large")
        if time.monotonic() > limits.deadline:
            raise Refusal(f"no answer within {limits.timeout:g} s", kind="fetch_failed")
        chunks.append(chunk)
    return b"".join(chunks)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """What servers are verified with (httpx's default: certifi's CAs, or ``SSL_CERT_FILE``);
    one for the process, and module-level so that tests can trust their own CA."""
    return httpx.create_ssl_context()
