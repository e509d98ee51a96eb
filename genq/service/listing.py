"""Listing jobs: a page at a time, newest first, within a bound on the bytes a page holds."""

from __future__ import annotations

import time

import orjson

from genq import limits
from genq.errors import ValidationFailed
from genq.jobs import JobRecord, Status
from genq.service.core import ServiceCore
from genq.store import JobFilter

MAX_PAGE = 100
#: Jobs a listing reads from the store at a time.
LIST_CHUNK = 25
#: Highest page number of a numbered listing (its offset must fit a 64-bit integer).
MAX_PAGE_NUMBER = 1_000_000
#: Most text a dialect puts in a response body in place of a link.


def listed_size(job: JobRecord) -> int:
    """About how many bytes a job takes in a listing: its input, metadata and vendor request
    (what may be large), and a fixed share for the rest."""
    request = job.origin.request if job.origin is not None else None
    return len(orjson.dumps([job.input, job.metadata, request])) + 1024


class Listing(ServiceCore):
    async def queue_depths(self) -> dict[str, tuple[int, float]]:
        """Per model with queued jobs: how many, and when the oldest was created."""
        return await self._db(self.store.queue_depths)

    async def list_jobs(
        self,
        account_id: str,
        *,
        limit: int = 20,
        before: int | None = None,
        status: str | None = None,
        model: str | None = None,
        origin_api: str | None = None,
    ) -> tuple[list[JobRecord], int | None]:
        """Up to ``limit`` jobs, newest first, from before the sequence number ``before``
        (None: the newest), and the sequence number of the next page (None: no more); only
        those submitted through ``origin_api``, when given (a dialect's own)."""
        if status is not None and status not in Status.__members__.values():
            raise ValidationFailed(
                f"unknown status {status!r}",
                details=[{"path": "status", "message": f"one of {[s.value for s in Status]}"}],
            )
        limit = max(1, min(limit, MAX_PAGE))
        where = JobFilter(statuses=(status,) if status else (), model=model, origin_api=origin_api)
        rows, more = await self._read_page(
            account_id,
            time.time(),
            where,
            limit,
            before=before,
            budget=self.settings.max_list_bytes,
        )
        return [job for _, job in rows], rows[-1][0] if more else None

    async def page_jobs(
        self, account_id: str, where: JobFilter, *, page: int = 1, page_size: int = 20
    ) -> tuple[list[JobRecord], int]:
        """One numbered page of the jobs a filter selects, newest first, and their total."""
        page_size = max(1, min(page_size, MAX_PAGE))
        now = time.time()
        offset = (max(page, 1) - 1) * page_size
        # A numbered page is always whole: ending one early would shift every later page.
        rows, _ = await self._read_page(
            account_id, now, where, page_size, offset=offset, budget=None
        )
        total = await self.store.read_count(account_id, now, where)
        return [job for _, job in rows], total

    async def count_jobs(self, account_id: str, where: JobFilter) -> int:
        """How many of the account's live jobs a filter selects."""
        limits.check_param(where.model, "model")
        return await self.store.read_count(account_id, time.time(), where)

    async def _read_page(
        self,
        account_id: str,
        now: float,
        where: JobFilter,
        limit: int,
        *,
        before: int | None = None,
        offset: int = 0,
        budget: int | None,
    ) -> tuple[list[tuple[int, JobRecord]], bool]:
        """Up to ``limit`` jobs, newest first, and whether more follow. A page also ends once
        it holds ``budget`` bytes of input and metadata (None: never), with at least one job,
        so that no listing makes an answer, or this process, hold more than that; it is read
        in chunks for the same reason."""
        limits.check_param(where.model, "model")
        page: list[tuple[int, JobRecord]] = []
        size = 0
        while len(page) < limit:
            chunk = min(LIST_CHUNK, limit - len(page))
            rows = await self.store.read_jobs(
                account_id,
                now,
                limit=chunk + 1,
                before_seq=before,
                offset=offset if before is None else 0,
                where=where,
            )
            for seq, job in rows[:chunk]:
                size += listed_size(job)
                if page and budget is not None and size > budget:
                    return page, True
                page.append((seq, job))
            if len(rows) <= chunk:
                return page, False
            before = page[-1][0]
        return page, True
