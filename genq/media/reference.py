"""What can be told of a reference input (the image of an image-to-image, inpainting or
image-to-video job, the sound a speech model transcribes or a voice is cloned from) without the
network: the form of its URL, a ``data:`` URI's contents, the type of its bytes and, from an
image's header, its pixel count.

``check_reference`` runs these checks when a job is submitted, so that a job no fetch could
serve is refused at once, naming the field; the fetch (``genq.media.fetch``) runs them again in
the worker, around the download.

An image is judged by its header before it is decoded: one with more pixels than allowed is
refused, since a few kilobytes of PNG can hold a flat 9400x9400 picture that takes 265 MB as
RGB. One that is to be resized is shrunk before anything else is done to it (a JPEG is even
decoded at a reduced scale), so it never exists at full size more than once. A sound is
decoded by ``genq.media.audio``, which bounds its length the same way.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from typing import Literal
from urllib.parse import unquote_to_bytes

import httpx
from PIL import Image

from genq.models.base import InputError

#: What an image is resized to: a width and height, or a function of the image's own (upright)
#: width and height that gives them.
Resize = tuple[int, int] | Callable[[int, int], tuple[int, int]]

# Pillow's names of the accepted formats: only their decoders get to see the bytes.
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
_SHOWN_LENGTH = 80


#: What a refusal is, for the operator's figures (``genq_reference_refusals_total``): a
#: bounded set, unlike the reasons.
RefusalKind = Literal[
    "too_large",
    "too_many_pixels",
    "too_long",
    "private_address",
    "bad_type",
    "malformed",
    "fetch_failed",
]
#: What a reference must hold.
ReferenceKind = Literal["image", "audio"]


class Refusal(Exception):
    """Why a reference is refused; ``fetch_bytes`` turns it into ``RefusedReference``."""

    def __init__(self, reason: str, *, kind: RefusalKind, private: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        #: The redirect hop it happened at, when not the reference itself.
        self.via: str | None = None
        #: What only the operator may read (the refused address), for the log.
        self.private = private


class RefusedReference(InputError):
    """A reference the fetch refused (the job fails with ``invalid_input``), and what kind of
    refusal it was."""

    def __init__(self, message: str, kind: RefusalKind) -> None:
        super().__init__(message)
        self.kind = kind


def check_reference(ref: str, kind: ReferenceKind = "image") -> None:
    """Refuse, with ``InputError`` giving the bare reason, a reference no fetch could use
    whatever the network answers: a scheme other than ``http``, ``https`` and ``data``, a
    malformed URL, a URL with credentials, a ``data:`` URI that is malformed or does not hold
    what ``kind`` asks for (a PNG, JPEG, WebP or GIF image; WAV, FLAC, MP3, AAC, OGG, WebM or
    M4A audio).

    Nothing is looked up or downloaded: the registry runs it on every reference input when a
    job is submitted. Which addresses a host name has is left to the fetch, in the worker.
    """
    ref = ref.strip()
    try:
        if is_data_uri(ref):
            # The request body limit bounds it already; the worker applies its own.
            data, declared = decode_data_uri(ref, max_bytes=len(ref))
            if sniff_as(kind, data) is None:
                raise Refusal(not_of_kind(kind, declared), kind="bad_type")
        else:
            host_and_port(parse_url(ref))
    except Refusal as refusal:
        raise InputError(str(refusal)) from refusal.__cause__


def check_audio_reference(ref: str) -> None:
    """``check_reference`` for a sound: the check of the ``audio-reference`` input format."""
    check_reference(ref, "audio")


def sniff_as(kind: ReferenceKind, data: bytes) -> str | None:
    """The content type of ``data`` if it is of a type accepted as ``kind``."""
    return sniff(data) if kind == "image" else sniff_audio(data)


def not_of_kind(kind: ReferenceKind, declared: str | None) -> str:
    """Why bytes declared as ``declared`` are refused as ``kind``."""
    return not_an_image(declared) if kind == "image" else not_audio(declared)


# --- URLs ------------------------------------------------------------------------------------


def parse_url(ref: str) -> httpx.URL:
    try:
        return httpx.URL(ref)
    except httpx.InvalidURL as exc:
        raise Refusal(f"not a valid URL ({exc})", kind="malformed") from exc


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    if url.scheme not in ("http", "https"):
        raise Refusal("only http://, https:// and data: references are accepted", kind="malformed")
    if url.userinfo:
        raise Refusal("URLs with credentials are not accepted", kind="malformed")
    # The ASCII (IDNA) form, as DNS and TLS know the name; IPv6 without brackets.
    host = url.raw_host.decode("ascii")
    if not host:
        raise Refusal("the URL has no host", kind="malformed")
    labels = host.removesuffix(".").split(".")
    if ":" not in host and not all(0 < len(label) < 64 for label in labels):
        raise Refusal("the URL's host name is malformed", kind="malformed")
    port = url.port or (443 if url.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise Refusal("the URL's port is out of range", kind="malformed")
    return host, port


# --- data: URIs ------------------------------------------------------------------------------


def is_data_uri(ref: str) -> bool:
    return ref[:5].lower() == "data:"


def decode_data_uri(ref: str, max_bytes: int) -> tuple[bytes, str | None]:
    """The bytes of a ``data:[<type>][;base64],<data>`` URI and its declared type."""
    header, comma, payload = ref[5:].partition(",")
    if not comma:
        raise Refusal("a data: URI needs a comma before its data", kind="malformed")
    params = [part.strip().lower() for part in header.split(";")]
    declared = params[0] or None
    if len(params) > 1 and params[-1] == "base64":
        data = _decode_base64(payload, max_bytes)
    else:
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise Refusal(f"larger than the {size_text(max_bytes)} limit", kind="too_large")
    return data, declared


def _decode_base64(payload: str, max_bytes: int) -> bytes:
    compact = "".join(payload.split())
    if "%" in compact:  # base64 inside a URL may have its + / = percent-encoded
        compact = unquote_to_bytes(compact).decode("ascii", errors="replace")
    # Refused before decoding: four characters make three bytes.
    if (len(compact) - compact.count("=")) * 3 // 4 > max_bytes:
        raise Refusal(f"larger than the {size_text(max_bytes)} limit", kind="too_large")
    try:
        # Missing padding is common in hand-made URIs and harmless.
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refusal(f"its base64 data is not valid ({exc})", kind="malformed") from exc


# --- images ----------------------------------------------------------------------------------


def sniff(data: bytes) -> str | None:
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


def not_an_image(declared: str | None) -> str:
    accepted = "a PNG, JPEG, WebP or GIF image"
    if declared is None:
        return f"not {accepted}"
    kind = shown(declared.split(";")[0].strip())
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


def decode_image(data: bytes, max_pixels: int, size: Resize | None) -> Image.Image:
    """The PNG, JPEG, WebP or GIF image in ``data``, as ``fetch_image`` describes it; refused
    from its header alone when it has more than ``max_pixels`` pixels."""
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as image:
            # The header is all that has been read: refuse before the pixels take memory.
            limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
            if image.width * image.height > limit:
                raise Refusal(
                    f"{image.width}x{image.height} is more than the {limit} pixels allowed",
                    kind="too_many_pixels",
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
        raise Refusal(f"too many pixels ({exc})", kind="too_many_pixels") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # What Pillow raises for truncated or corrupt files.
        raise Refusal(f"not a readable image ({exc})", kind="bad_type") from exc


# --- sounds ----------------------------------------------------------------------------------

_AUDIO_ACCEPTED = "WAV, FLAC, MP3, AAC, OGG, WebM or M4A audio"
# ISO base media files that hold pictures, not sound (HEIF, AVIF).
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
#: How many ID3v2 tags may lead a sound.
_MAX_ID3_TAGS = 4
#: How many of a sound's first bytes (after its ID3 tags) its signature is found in.
_SNIFFED_BYTES = 64


def sniff_audio(data: bytes) -> str | None:
    """The content type of WAV, FLAC, MP3, AAC (ADTS), OGG, WebM (Matroska) and MP4 (M4A)
    bytes, from their signatures.

    ffmpeg would recognise these by probing too, but also hundreds of other formats, each a
    demuxer that untrusted bytes would reach; the decoder is only given the one named here.
    """
    # An ID3v2 tag leads most MP3 files, and sometimes FLAC or AAC: what follows says. A file
    # may have more than one; past a few, it is no sound but a pile of tags. They are skipped
    # by their offset: the bytes behind them may be megabytes, and are not copied.
    offset = tags = 0
    while data[offset : offset + 3] == b"ID3":
        if tags == _MAX_ID3_TAGS:
            return None
        offset += _id3_length(data[offset : offset + 10])
        tags += 1
    content_type = _sniff_audio_head(data[offset : offset + _SNIFFED_BYTES])
    if offset and content_type not in ("audio/flac", "audio/aac"):
        return "audio/mpeg"
    return content_type


def _sniff_audio_head(data: bytes) -> str | None:
    """``sniff_audio`` of the first bytes of a sound, behind any ID3 tags."""
    if data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"fLaC":
        return "audio/flac"
    if data[:4] == b"OggS":
        return "audio/ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML
        return "audio/webm" if b"webm" in data[:64] else "audio/x-matroska"
    if data[4:8] == b"ftyp":
        return None if data[8:12] in _IMAGE_BRANDS else "audio/mp4"
    if _is_adts_frame(data):
        return "audio/aac"
    if _is_mpeg_audio_frame(data):
        return "audio/mpeg"
    return None


def _id3_length(data: bytes) -> int:
    """The length of the ID3v2 tag ``data`` starts with: a 10-byte header, a "syncsafe" size
    (7 bits a byte), and a 10-byte footer when its flag says so."""
    size = 0
    for byte in data[6:10]:
        size = size << 7 | byte & 0x7F
    footer = 10 if len(data) > 5 and data[5] & 0x10 else 0
    return 10 + size + footer


def _is_adts_frame(data: bytes) -> bool:
    """Whether ``data`` starts with an ADTS header (raw AAC): 12 sync bits, layer 0, a
    sampling frequency index that exists."""
    return (
        len(data) >= 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0 and (data[2] >> 2) & 0x0F < 13
    )


def _is_mpeg_audio_frame(data: bytes) -> bool:
    """Whether ``data`` starts with an MPEG audio frame header (an MP3 without an ID3 tag):
    11 sync bits, then a version, layer, bit rate and sample rate that exist."""
    return (
        len(data) >= 4
        and data[0] == 0xFF
        and data[1] & 0xE0 == 0xE0
        and (data[1] >> 3) & 0x03 != 1
        and (data[1] >> 1) & 0x03 != 0
        and data[2] >> 4 != 0x0F
        and (data[2] >> 2) & 0x03 != 3
    )


def not_audio(declared: str | None) -> str:
    if declared is None:
        return f"not {_AUDIO_ACCEPTED}"
    kind = shown(declared.split(";")[0].strip())
    if kind.startswith("audio/"):  # AIFF, AMR, ... or a lie
        return f"not {_AUDIO_ACCEPTED} (declared as {kind})"
    return f"not audio (declared as {kind})"


# --- messages --------------------------------------------------------------------------------


def shown(ref: str) -> str:
    """``ref`` for a message: control characters replaced, long ones (data: URIs) cut."""
    printable = "".join(c if c.isprintable() else "?" for c in ref[: _SHOWN_LENGTH + 1])
    if len(ref) > _SHOWN_LENGTH:
        return f"{printable[:_SHOWN_LENGTH]}... ({len(ref)} characters)"
    return printable


def size_text(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
