"""A job's files: until when links to them are valid, their text, and the files genq serves
itself (an output of a caller's job, or the file behind a signed link)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from genq.errors import Forbidden, Missing
from genq.jobs import JobRecord, OutputRecord
from genq.service.core import ServiceCore

#: Most text a dialect puts in a response body in place of a link.
MAX_TEXT_BYTES = 1 << 20


class Files(ServiceCore):
    def link_expiry(self, job: JobRecord) -> float:
        """Until when a download link to one of the job's files made now may be valid: the
        configured time, and never past the job's own end."""
        return min(time.time() + self.settings.link_ttl_seconds, job.expires_at)

    async def output_text(self, job: JobRecord, limit: int = MAX_TEXT_BYTES) -> str | None:
        """The content of the job's first text output (up to ``limit`` bytes); None without one."""
        for output in job.outputs:
            if output.content_type.startswith("text/"):
                return await self._stored_text(output.key, limit)
        return None

    async def output_json(self, job: JobRecord, limit: int = MAX_TEXT_BYTES) -> Any:
        """The value of the job's first JSON output (``application/json``), when it holds at
        most ``limit`` bytes; None without one, or past the limit."""
        for output in job.outputs:
            if output.content_type.split(";")[0].strip() == "application/json":
                if output.size > limit:
                    return None
                text = await self._stored_text(output.key, limit)
                try:
                    return None if text is None else orjson.loads(text)
                except orjson.JSONDecodeError:  # not what its content type says
                    return None
        return None

    async def _stored_text(self, key: str, limit: int) -> str | None:
        # A stored file is never written again (its key names the job's attempt), so its
        # text is kept: a client polling a finished text job reads it from memory.
        text = self._texts.get(("file", key, limit))
        if text is None:
            data = await self._db(self.storage.read, key, limit)
            if data is None:
                return None
            text = data.decode("utf-8", errors="replace")
            self._keep_text(("file", key, limit), text)
        return text

    async def output_file(
        self, account_id: str, job_id: str, index: int
    ) -> tuple[JobRecord, OutputRecord, Path | None]:
        """One output of a job, with the job, and the file's local path where genq serves the
        storage's files (None: the storage hands out links of its own)."""
        job = await self.get(account_id, job_id)
        if not 0 <= index < len(job.outputs):
            raise Missing(f"job {job_id} has no output {index}", code="output_not_found")
        output = job.outputs[index]
        if not self.storage.served_by_genq:
            return job, output, None
        return job, output, self._local_file(output.key)

    async def signed_file(
        self, key: str, expires: str | None, signature: str | None
    ) -> tuple[Path, str]:
        """The file behind a signed link: 403 when tampered or expired, 404 when gone."""
        if not self.storage.served_by_genq:
            raise Missing("files are not served by genq with this storage")
        now = time.time()
        expires_at = self.storage.verify(key, expires, signature)
        job_id = key.split("/", 1)[0]
        job = await self._db(self.store.get_job_any_account, job_id, now)
        files = {}
        for o in job.outputs if job else ():
            files[o.key] = o.content_type
            if o.thumbnail is not None:
                files[o.thumbnail] = "image/jpeg"
        # A deleted or retired job's links answer 404 whatever their own expiry says.
        if key not in files:
            raise Missing("this file no longer exists", code="file_not_found")
        if expires_at < now:
            raise Forbidden("this file link has expired", code="link_expired")
        return self._local_file(key), files[key]

    def _local_file(self, key: str) -> Path:
        path = self.storage.local_path(key)
        if path is None:
            raise Missing("this file no longer exists", code="file_not_found")
        return path
