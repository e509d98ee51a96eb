"""Result file storages, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from genq.errors import ConfigError
from genq.storage.base import FileStorage

__all__ = ["FileStorage", "open_storage"]

URL_FORMS = "file://PATH or s3://BUCKET[/PREFIX]"


def open_storage(url: str, secret: bytes) -> FileStorage:
    """Open the storage a URL names: ``file:///path/to/dir``, ``s3://bucket/optional/prefix``.

    ``secret`` signs local files' links; S3 presigns its own with the AWS credentials.
    """
    if url.startswith("file://") and url != "file://":
        from genq.storage.local import LocalStorage

        return LocalStorage(Path(url.removeprefix("file://")), secret)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"storage URL {url!r} names no bucket: expected {URL_FORMS}")
        from genq.storage.s3 import S3Storage

        return S3Storage(bucket, prefix)
    raise ConfigError(f"unsupported storage URL {url!r}: expected {URL_FORMS}")
