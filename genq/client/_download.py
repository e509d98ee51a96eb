"""Where downloaded outputs go, and checking them while they are written."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from types import TracebackType
from typing import IO

from genq.client._errors import ChecksumMismatch

#: The media types genq's models write. ``mimetypes`` answers from the system's tables,
#: which differ between machines (``audio/wav`` is unknown to some).
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "audio/wav": ".wav",
    "audio/flac": ".flac",
    "audio/mpeg": ".mp3",
    "text/plain": ".txt",
    "application/json": ".json",
}


def output_path(directory: Path, job_id: str, index: int, content_type: str) -> Path:
    """``directory/{job_id}-{index}{ext}``, the extension following the content type."""
    media_type = content_type.partition(";")[0].strip().lower()
    extension = EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"
    return directory / f"{job_id}-{index}{extension}"


class FileSink:
    """One download, written under a temporary name while its SHA-256 is computed; it takes
    its own name only once complete and, when ``expected`` is given, verified. A failed or
    mismatching download leaves no file behind."""

    def __init__(self, path: Path, expected: str | None) -> None:
        self.path = path
        self.expected = expected
        self.part = path.with_name(path.name + ".part")
        self._hash = hashlib.sha256()
        self._file: IO[bytes] | None = None

    def __enter__(self) -> FileSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.part.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        assert self._file is not None
        self._file.write(chunk)
        self._hash.update(chunk)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._file is not None
        self._file.close()
        if exc_type is not None:
            self.part.unlink(missing_ok=True)

    def finish(self) -> Path:
        """Give the complete file its name; raises ``ChecksumMismatch`` (and removes it) when
        its SHA-256 is not the expected one."""
        actual = self._hash.hexdigest()
        if self.expected is not None and actual != self.expected.lower():
            self.part.unlink(missing_ok=True)
            raise ChecksumMismatch(self.path, self.expected, actual)
        self.part.replace(self.path)
        return self.path
