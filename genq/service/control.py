"""A caller's say over its jobs: cancel one, or delete it with its files."""

from __future__ import annotations

import time

from genq import metrics
from genq.errors import Clash, Missing
from genq.jobs import JobRecord, Status
from genq.service.core import known_id
from genq.service.quotas import Quotas


class Control(Quotas):
    async def cancel(self, account_id: str, job_id: str) -> JobRecord:
        """Cancel a job: at once when queued, at its next step (or by force) when running."""
        now = time.time()
        job = await self._db(self.store.request_cancel, account_id, known_id(job_id), now)
        if job is None:
            raise Missing(f"no job {job_id!r}", code="job_not_found")
        if job.status is Status.CANCELED and job.finished_at == now:
            # This call ended it (a queued job); a running one ends in its worker, which
            # counts it, and a job canceled before keeps its first end time.
            metrics.add(metrics.ended(job))
        if job.status in (Status.SUCCEEDED, Status.FAILED, Status.EXPIRED):
            raise Clash(
                f"job {job_id} has already {job.status.value} and cannot be canceled",
                code="job_not_cancelable",
                details={"status": job.status.value},
            )
        return job

    async def cancel_queued(self, account_id: str, job_id: str) -> bool:
        """Cancel a job if it is still queued; whether this call canceled it (a job a worker
        took meanwhile is left to run)."""
        now = time.time()
        job = await self._db(
            self.store.request_cancel, account_id, known_id(job_id), now, queued_only=True
        )
        if job is None or job.status is not Status.CANCELED or job.finished_at != now:
            return False
        metrics.add(metrics.ended(job))
        return True

    async def delete(self, account_id: str, job_id: str) -> JobRecord:
        """Delete a job and its files, stopping it first if it runs."""
        job = await self._db(self.store.delete_job, account_id, known_id(job_id), time.time())
        if job is None:
            raise Missing(f"no job {job_id!r}", code="job_not_found")
        await self._db(self.storage.delete_job, job_id)
        self.forget_stored(account_id)
        return job
