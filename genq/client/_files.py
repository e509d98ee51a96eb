"""Local files as job inputs: a file given as a ``pathlib.Path`` (or ``@path`` on the command
line) travels in the job's input as a ``data:`` URI, which the server takes wherever a model
takes a URL (an image to edit, a sound to transcribe).

The file's type is told from its first bytes, for the formats genq's models read, and from its
name otherwise: the server checks the bytes again, so the type is a label, not a promise.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Any

#: Largest file sent as an input: the server's default limit on a reference
#: (``reference_max_bytes``). A server may set a lower one, or a lower body limit
#: (``max_body_bytes``, which the base64 text, a third larger than the file, must fit).
MAX_FILE_BYTES = 20 * 1024 * 1024

#: Signatures at the start of a file, and the type they make it. A table of a dozen rather
#: than a detection library: the client's base install stays httpx, typer and rich, and the
#: server reads the bytes again whatever label they come with.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3", "audio/webm"),
    (b"ID3", "audio/mpeg"),
)
#: The brands of ISO base media files (``ftyp``) that are not MP4 video.
_BRANDS = {
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"avif": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
}


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` from its signature: the image, sound and video formats
    genq's models read (PNG, JPEG, WebP, GIF; WAV, FLAC, MP3, OGG, WebM, M4A; MP4); None for
    others."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    riff = data[8:12] if data[:4] in (b"RIFF", b"RF64") else b""
    if riff == b"WEBP":
        return "image/webp"
    if riff == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        return _BRANDS.get(data[8:12], "video/mp4")
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG audio frame
        return "audio/mpeg"
    return None


def file_input(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file at ``path`` as a ``data:`` URI, to pass as an input value.

    Raises ``OSError`` (``FileNotFoundError``, ``IsADirectoryError``, ...) for a file that
    cannot be read and ``ValueError`` for one over ``max_bytes``.
    """
    file = Path(path)
    with file.open("rb") as opened:
        size = os.fstat(opened.fileno()).st_size
        if size > max_bytes:
            raise ValueError(f"{file} has {size} bytes, more than {limit_text(max_bytes)}")
        # Read one byte past the limit: a file that grows meanwhile is caught too.
        data = opened.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{file} has more than {limit_text(max_bytes)}")
    content_type = sniff(data) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def limit_text(max_bytes: int) -> str:
    """``the 20 MiB a file input may have``."""
    size = f"{max_bytes / (1 << 20):g} MiB" if max_bytes >= 1 << 20 else f"{max_bytes} bytes"
    return f"the {size} a file input may have"


def with_files(value: Any) -> Any:
    """``value`` (a job input) with every ``os.PathLike`` in it, at any depth of dicts, lists
    and tuples, replaced by its file as a ``data:`` URI (``file_input``)."""
    if isinstance(value, os.PathLike):
        return file_input(value)
    if isinstance(value, dict):
        return {key: with_files(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [with_files(item) for item in value]
    return value
