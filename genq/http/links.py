"""Download links to job files: the service says which file and until when, the storage that
keeps it signs the link, and the request says at which address genq is reached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genq.jobs import JobRecord
from genq.storage import FileStorage


@dataclass(frozen=True)
class OutputLinks:
    """Download links of one output: the file and, for a video, its first-frame thumbnail."""

    url: str
    thumbnail: str | None = None


@dataclass(frozen=True)
class Links:
    """Download links for one caller: signed by ``storage``, valid until ``expiry(job)``, and
    rooted at ``base_url`` where genq serves the files itself."""

    storage: FileStorage
    base_url: str
    expiry: Callable[[JobRecord], float]

    def file(self, job: JobRecord, key: str) -> str:
        """A download link for one of the job's files, valid no longer than the job."""
        return self.storage.link(key, self.expiry(job), self.base_url)

    def outputs(self, job: JobRecord) -> list[OutputLinks]:
        """The links of each of the job's outputs, in order."""
        return [
            OutputLinks(
                self.file(job, o.key),
                None if o.thumbnail is None else self.file(job, o.thumbnail),
            )
            for o in job.outputs
        ]
