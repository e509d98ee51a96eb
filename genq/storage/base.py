"""The result file storage interface. Implementations: local files (embedded)."""

from __future__ import annotations

import abc
from pathlib import Path


class FileStorage(abc.ABC):
    @abc.abstractmethod
    def put(self, key: str, source: Path) -> None:
        """Store the file at ``source`` under ``key`` (``JOB_ID/NAME``)."""

    @abc.abstractmethod
    def delete_job(self, job_id: str) -> None:
        """Remove every file of a job; removing nothing is not an error."""

    @abc.abstractmethod
    def delete_keys(self, keys: list[str]) -> None:
        """Remove these files; missing ones are not an error."""

    @abc.abstractmethod
    def link(self, key: str, expires_at: float, base_url: str) -> str:
        """A URL that fetches the file without credentials until ``expires_at``."""

    @abc.abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The file on this machine, for storages that serve through genq; None if missing."""
