"""Result file storages, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from genq.errors import ConfigError
from genq.storage.base import FileStorage

__all__ = ["FileStorage", "open_storage"]


def open_storage(url: str, secret: bytes) -> FileStorage:
    """Open the storage a URL names: ``file:///path/to/dir``."""
    if url.startswith("file://"):
        from genq.storage.local import LocalStorage

        return LocalStorage(Path(url.removeprefix("file://")), secret)
    raise ConfigError(f"unsupported storage URL {url!r}: expected file://PATH")
