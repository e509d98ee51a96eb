"""The result file storage interface.

Implementations: local files served by genq (``local``), S3-compatible buckets (``s3``).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar


def check_job_id(job_id: str) -> str:
    """``job_id``, unless it would name more than one job's files (the root, a parent)."""
    if job_id in ("", ".", "..") or "/" in job_id:
        raise ValueError(f"not a job id: {job_id!r}")
    return job_id


class FileStorage(abc.ABC):
    #: Whether genq serves the files itself, through links it signs (``local_path``,
    #: ``verify``), rather than the storage answering its own links' downloads.
    served_by_genq: ClassVar[bool] = False

    @abc.abstractmethod
    def put(self, key: str, source: Path, content_type: str | None = None) -> None:
        """Store the file at ``source`` under ``key`` (``JOB_ID/ATTEMPT/NAME``).

        Storing a key again replaces its file. ``content_type`` is kept by storages that
        answer downloads themselves (S3); genq serves local files with the job's record's.
        """

    @abc.abstractmethod
    def read(self, key: str, limit: int) -> bytes | None:
        """The file's first ``limit`` bytes; None if it is missing."""

    @abc.abstractmethod
    def delete_job(self, job_id: str) -> None:
        """Remove every file of a job (every attempt's); removing nothing is not an error."""

    @abc.abstractmethod
    def delete_keys(self, keys: list[str]) -> None:
        """Remove these files; missing ones are not an error."""

    @abc.abstractmethod
    def link(self, key: str, expires_at: float, base_url: str) -> str:
        """A URL that fetches the file without credentials until at least ``expires_at``.

        ``base_url`` is genq's own address, for storages whose files genq serves.
        """

    @abc.abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The file on this machine, for storages that serve through genq.

        None if it is missing, or if the storage's files are not served by genq.
        """

    def verify(self, key: str, expires: str | None, signature: str | None) -> float:
        """The expiry of a link to ``key`` that this storage signed for genq to serve;
        ``Forbidden`` unless its signature is right. Only storages served by genq sign such
        links."""
        raise NotImplementedError(f"{type(self).__name__} signs no links for genq to serve")
