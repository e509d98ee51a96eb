"""The retries part of the SQL job store (``genq.store.core.SQLStore``): a job run again on
request, linked both ways to the one it retries, and a failed attempt put back in the queue
by its worker, not to be taken before its ``run_after`` (the claim skips it until then)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from genq.jobs import Claim, EventType, JobRecord
from genq.notify.base import Topic
from genq.store import queries as q
from genq.store.base import NewJob
from genq.store.changes import Change, Record
from genq.store.engine import Args, Engine, Tx
from genq.store.rows import Row

# A retry names the job it runs again; that job names its latest retry.
LINK_RETRY = "UPDATE jobs SET retry_of = :retry_of WHERE id = :id RETURNING *"
MARK_RETRIED = (
    "UPDATE jobs SET retried_by = :retried_by WHERE id = :retry_of AND account_id = :account_id"
)
# A failed attempt back in the queue, fenced like ``FINISH`` (the worker's claim), unless a
# cancel was asked for: that job ends as usual. Its ``status`` event, given, says why and when
# it runs again; the worker that may take it then is woken by its own wait (``ClaimLoop``),
# those that wake now find it not yet due.
REQUEUE_ATTEMPT = Change(
    "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL,"
    " progress_step = 0, progress_total = 0, progress_message = NULL, run_after = :run_after"
    f" WHERE {q._FENCE} AND NOT cancel_requested RETURNING *",
    Record.GIVEN,
    (Topic.JOB, Topic.QUEUED),
)
NEXT_RUN_AFTER = (
    "SELECT MIN(run_after) AS at FROM jobs WHERE status = 'queued' AND model = ANY(:models)"
    " AND run_after > :now"
)


class RetryStatements:
    _db: Engine

    if TYPE_CHECKING:

        def change(
            self,
            tx: Tx,
            change: Change,
            args: Args,
            now: float,
            event: tuple[EventType, dict[str, Any]] | None = None,
        ) -> list[Row]: ...

        def _job(self, row: Row) -> JobRecord: ...

        def _correct_fair_charge(self, tx: Tx, job: JobRecord, now: float) -> None: ...

    def _insert_retry(self, tx: Tx, new: NewJob, args: Args) -> JobRecord | None:
        """Insert a job that runs ``new.retry_of`` again, and link the two, at once; None when
        the job's id or idempotency key is taken."""
        assert new.retry_of is not None
        with tx.atomic():
            rows = self.change(tx, q.INSERT_JOB, args, new.created_at)
            if not rows:
                return None
            link = {"id": new.id, "retry_of": new.retry_of, "account_id": new.account_id}
            row = tx.one(LINK_RETRY, link)
            assert row is not None
            tx.run(MARK_RETRIED, {**link, "retried_by": new.id})
            return self._job(row)

    def retry_later(
        self, claim: Claim, now: float, *, run_after: float, event: dict[str, Any]
    ) -> JobRecord | None:
        args = {
            "id": claim.job.id,
            "worker_id": claim.worker_id,
            "attempt": claim.attempt,
            "run_after": run_after,
        }
        given = (EventType.STATUS, event)

        def run(tx: Tx) -> list[Row]:
            with tx.atomic():
                rows = self.change(tx, REQUEUE_ATTEMPT, args, now, given)
                if rows:
                    # The attempt's worker time, as a finished one's.
                    self._correct_fair_charge(tx, claim.job, now)
                return rows

        rows = self._db.write(run)
        return self._job(rows[0]) if rows else None

    def next_run_after(self, models: Sequence[str], now: float) -> float | None:
        if not models:
            return None
        row = self._db.one(NEXT_RUN_AFTER, {"models": self._db.array(models), "now": now})
        return None if row is None or row["at"] is None else float(row["at"])
