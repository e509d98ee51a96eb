"""The time limits part of the SQL job store (``genq.store.core.SQLStore``): queued jobs that
reach their start deadline end ``expired``, and a running job past its timeout, whose worker
did not stop it, ends ``failed``. Both are charged nothing, as a cancel is; each records its
status event (and the webhook calls it makes due) through ``SQLStore.change``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genq.deadlines import START_DEADLINE_CODE, START_DEADLINE_MESSAGE, timeout_failure
from genq.jobs import EventType, JobRecord
from genq.store.changes import Change, Record
from genq.store.engine import Args, Engine, Tx
from genq.store.rows import Row

#: The earliest start deadline of a queued job, from the partial index ``jobs_start_deadline``.
NEXT_START_DEADLINE = (
    "SELECT MIN(start_deadline) AS at FROM jobs"
    " WHERE status = 'queued' AND start_deadline IS NOT NULL"
)
# Several API processes expire at once: a row one of them ended is skipped by the others,
# which check the WHERE clause again once its lock is theirs.
EXPIRE_AT_START_DEADLINE = Change(
    "UPDATE jobs SET status = 'expired', error_code = :code, error_message = :message,"
    " finished_at = :now, cost_actual_micros = 0"
    " WHERE status = 'queued' AND start_deadline IS NOT NULL AND start_deadline <= :now"
    " RETURNING *",
    Record.STATUS,
)
LOCK_TIMED_OUT = (
    "SELECT timeout_seconds FROM jobs WHERE id = :id AND status = 'running'"
    " AND timeout_seconds IS NOT NULL AND started_at + timeout_seconds <= :now FOR UPDATE"
)
TIME_OUT = Change(
    "UPDATE jobs SET status = 'failed', error_code = :code, error_message = :message,"
    " finished_at = :now, cost_actual_micros = 0, lease_expires_at = NULL"
    " WHERE id = :id AND status = 'running' RETURNING *",
    Record.STATUS,
)


class DeadlineStatements:
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

    def next_start_deadline(self) -> float | None:
        row = self._db.one(NEXT_START_DEADLINE, {})
        return None if row is None or row["at"] is None else float(row["at"])

    def expire_start_deadlines(self, now: float) -> list[JobRecord]:
        args = {"now": now, "code": START_DEADLINE_CODE, "message": START_DEADLINE_MESSAGE}
        rows = self._db.write(lambda tx: self.change(tx, EXPIRE_AT_START_DEADLINE, args, now))
        return [self._job(row) for row in rows]

    def time_out(self, job_id: str, now: float) -> JobRecord | None:
        def run(tx: Tx) -> JobRecord | None:
            with tx.atomic():
                row = tx.one(LOCK_TIMED_OUT, {"id": job_id, "now": now})
                if row is None:
                    return None
                failure = timeout_failure(row["timeout_seconds"])
                args = {"id": job_id, "now": now, "code": failure.code, "message": failure.message}
                return self._job(self.change(tx, TIME_OUT, args, now)[0])

        return self._db.write(run)
