"""The embedded job store: one SQLite file in WAL mode, shared by the API and worker processes.

Plain ``sqlite3`` rather than an ORM: every call is one short, hand-written transaction on the
hot path of every job, and the server's CPU per job is a tracked figure. Write transactions
start with ``BEGIN IMMEDIATE`` so that two processes never both read-then-write the same rows.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from genq.credits import from_micros, to_micros
from genq.errors import Conflict
from genq.jobs import (
    Account,
    ApiKey,
    Claim,
    Event,
    EventType,
    Job,
    JobError,
    JobStatus,
    Output,
    Progress,
)
from genq.store.base import (
    FORGET_WORKER_SECONDS,
    JobFilter,
    JobStore,
    NewJob,
    Released,
    Retired,
    Submitted,
)
from genq.store.rows import (
    account_from_row,
    balance_micros,
    check_credits,
    count_jobs_query,
    event_from_row,
    finish_outcome,
    job_from_row,
    key_from_row,
    list_jobs_query,
    origin_columns,
    progress_event_data,
    status_event_data,
    worker_lost_message,
)
from genq.store.schema import SCHEMA_VERSION, check_version, migrations

#: How long a call waits for the write lock before it fails.
BUSY_TIMEOUT = 10.0


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class SQLiteStore(JobStore):
    def __init__(self, path: Path | str, *, migrate: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection per thread: sqlite3 connections must not be shared across threads.
        self._local = threading.local()
        try:
            self._migrate(migrate)
        except BaseException:
            self.close()
            raise

    # -- plumbing ------------------------------------------------------------------------
    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL survives a killed process (the OS holds the written pages); only a
            # power cut may lose the last commits.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # From here on, waits for the write lock are ours (see _execute_when_free).
            conn.execute("PRAGMA busy_timeout = 0")
            self._local.conn = conn
        return conn

    @staticmethod
    def _execute_when_free(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement, retrying while another connection holds the database.

        SQLite's own busy handler sleeps 1 ms, then 2, then 5... before each retry: far longer
        than the transactions here, and it shows up as idle time between jobs. This one
        retries after 50 µs and backs off to at most 2 ms.
        """
        delay = 0.00005
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                return conn.execute(sql, args)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        # In WAL mode readers do not wait for writers; a reader can only meet a busy database
        # while another connection recovers the log after a crash.
        cursor: sqlite3.Cursor = self._execute_when_free(self._conn, sql, args)
        return cursor

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        self._execute_when_free(conn, "BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self, migrate: bool) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            # A new, empty database is set up at once; an existing one only by `genq migrate`.
            if not migrate and version != 0:
                check_version(version, self.path)
            if version > SCHEMA_VERSION:
                check_version(version, self.path)
            for number, statements in migrations("sqlite"):
                if number > version:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")
            if version < SCHEMA_VERSION:
                self.migrated = (version, SCHEMA_VERSION)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- rows ----------------------------------------------------------------------------
    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        return job_from_row(row, orjson.loads)

    @staticmethod
    def _event(conn: sqlite3.Connection, job_id: str, type: str, data: dict, now: float) -> None:
        conn.execute(
            "INSERT INTO events (job_id, type, data, created_at) VALUES (?, ?, ?, ?)",
            (job_id, type, _dumps(data), now),
        )

    def _status_event(self, conn: sqlite3.Connection, job: Job, now: float) -> None:
        self._event(conn, job.id, EventType.STATUS, status_event_data(job), now)

    # -- accounts and keys ---------------------------------------------------------------
    def ensure_account(self, name: str, credits: Decimal | None, now: float) -> Account:
        with self._write() as conn:
            row = conn.execute("SELECT * FROM accounts WHERE name = ?", (name,)).fetchone()
            if row is None:
                row = conn.execute(
                    "INSERT INTO accounts (id, name, credits_micros, created_at)"
                    " VALUES (?, ?, ?, ?) RETURNING *",
                    (f"acct_{uuid.uuid4().hex[:16]}", name, balance_micros(credits), now),
                ).fetchone()
        return account_from_row(row)

    def get_account(self, account_id: str) -> Account | None:
        row = self._read("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return None if row is None else account_from_row(row)

    _KEY_SELECT = (
        "SELECT k.*, a.name AS account_name FROM api_keys k JOIN accounts a ON a.id = k.account_id"
    )

    def create_key(
        self, key_id: str, account_id: str, name: str | None, key_hash: str, prefix: str, now: float
    ) -> ApiKey:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, account_id, name, key_hash, prefix, now),
            )
            row = conn.execute(f"{self._KEY_SELECT} WHERE k.id = ?", (key_id,)).fetchone()
        return key_from_row(row)

    def list_keys(self) -> list[ApiKey]:
        rows = self._read(f"{self._KEY_SELECT} ORDER BY k.created_at").fetchall()
        return [key_from_row(r) for r in rows]

    def set_key_disabled(self, key_id: str, disabled: bool) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET disabled = ? WHERE id = ?", (int(disabled), key_id)
            )
        return cur.rowcount > 0

    def delete_key(self, key_id: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
        return cur.rowcount > 0

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = self._read(f"{self._KEY_SELECT} WHERE k.key_hash = ?", (key_hash,)).fetchone()
        return None if row is None else key_from_row(row)

    # -- the API side --------------------------------------------------------------------
    def submit(self, new: NewJob) -> Submitted:
        with self._write() as conn:
            if new.idempotency_key is not None:
                row = conn.execute(
                    "SELECT * FROM jobs WHERE account_id = ? AND idempotency_key = ?",
                    (new.account_id, new.idempotency_key),
                ).fetchone()
                if row is not None:
                    if row["fingerprint"] != new.fingerprint:
                        raise Conflict(
                            "this Idempotency-Key was already used with a different request",
                            code="idempotency_conflict",
                            details={"job_id": row["id"]},
                        )
                    return Submitted(self._job(row), created=False)
            job = self._insert(conn, new)
        return Submitted(job, created=True)

    def submit_many(self, news: Sequence[NewJob]) -> list[Job]:
        with self._write() as conn:
            return [self._insert(conn, new) for new in news]

    def _insert(self, conn: sqlite3.Connection, new: NewJob) -> Job:
        """Insert a queued job and its first event, within the account's balance (the jobs
        inserted before it in the same transaction already hold their estimates)."""
        credits = conn.execute(
            "SELECT credits_micros FROM accounts WHERE id = ?", (new.account_id,)
        ).fetchone()[0]
        if credits is not None:
            self._check_credits(conn, new, credits)
        row = conn.execute(
            "INSERT INTO jobs (id, account_id, model, input, status, priority, metadata,"
            " cost_estimate_micros, created_at, expires_at, idempotency_key, fingerprint,"
            " batch_key,"
            " origin_api, origin_model, origin_request)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                new.id,
                new.account_id,
                new.model,
                _dumps(new.input),
                new.priority,
                _dumps(new.metadata),
                to_micros(new.cost_estimate),
                new.created_at,
                new.expires_at,
                new.idempotency_key,
                new.fingerprint,
                new.batch_key,
                *origin_columns(new, _dumps),
            ),
        ).fetchone()
        job = self._job(row)
        self._status_event(conn, job, new.created_at)
        return job

    @staticmethod
    def _check_credits(conn: sqlite3.Connection, new: NewJob, credits: int) -> None:
        held = conn.execute(
            "SELECT COALESCE(SUM(cost_estimate_micros), 0) FROM jobs"
            " WHERE account_id = ? AND status IN ('queued', 'running')",
            (new.account_id,),
        ).fetchone()[0]
        check_credits(new, credits, held)

    def get_job(self, account_id: str, job_id: str, now: float) -> Job | None:
        row = self._read(
            "SELECT * FROM jobs WHERE id = ? AND account_id = ? AND expires_at > ?",
            (job_id, account_id, now),
        ).fetchone()
        return None if row is None else self._job(row)

    def get_job_any_account(self, job_id: str, now: float) -> Job | None:
        row = self._read(
            "SELECT * FROM jobs WHERE id = ? AND expires_at > ?", (job_id, now)
        ).fetchone()
        return None if row is None else self._job(row)

    def list_jobs(
        self,
        account_id: str,
        now: float,
        *,
        limit: int,
        before_seq: int | None = None,
        offset: int = 0,
        where: JobFilter = JobFilter(),
    ) -> list[tuple[int, Job]]:
        sql, args = list_jobs_query(
            "?", account_id, now, limit=limit, before_seq=before_seq, offset=offset, where=where
        )
        return [(r["seq"], self._job(r)) for r in self._read(sql, args).fetchall()]

    def count_jobs(self, account_id: str, now: float, where: JobFilter = JobFilter()) -> int:
        sql, args = count_jobs_query("?", account_id, now, where)
        return int(self._read(sql, args).fetchone()["n"])

    def request_cancel(self, account_id: str, job_id: str, now: float) -> Job | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM jobs WHERE id = ? AND account_id = ? AND expires_at > ?",
                (job_id, account_id, now),
            ).fetchone()
            if row is None:
                return None
            if row["status"] == "queued":
                row = conn.execute(
                    "UPDATE jobs SET status = 'canceled', cancel_requested = 1, finished_at = ?,"
                    " cost_actual_micros = 0 WHERE id = ? RETURNING *",
                    (now, job_id),
                ).fetchone()
                self._status_event(conn, self._job(row), now)
            elif row["status"] == "running" and not row["cancel_requested"]:
                row = conn.execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE id = ? RETURNING *", (job_id,)
                ).fetchone()
                self._event(conn, job_id, EventType.LOG, {"message": "cancel requested"}, now)
        return self._job(row)

    def delete_job(self, account_id: str, job_id: str, now: float) -> Job | None:
        with self._write() as conn:
            row = conn.execute(
                "DELETE FROM jobs WHERE id = ? AND account_id = ? AND expires_at > ? RETURNING *",
                (job_id, account_id, now),
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
        return None if row is None else self._job(row)

    def events_after(self, job_id: str, after_id: int, limit: int = 500) -> list[Event]:
        rows = self._read(
            "SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
            (job_id, after_id, limit),
        ).fetchall()
        return [event_from_row(r, orjson.loads) for r in rows]

    def queue_position(self, job: Job) -> int:
        row = self._read(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = ? AND"
            " (priority > ? OR (priority = ? AND seq < (SELECT seq FROM jobs WHERE id = ?)))",
            (job.model, job.priority, job.priority, job.id),
        ).fetchone()
        return int(row[0])

    # -- the worker side -----------------------------------------------------------------
    def claim(
        self,
        worker_id: str,
        models: Sequence[str],
        now: float,
        lease_seconds: float,
        limit: int = 1,
        batch_key: str | None = None,
    ) -> list[Claim]:
        if not models:
            return []
        if batch_key is None:
            marks = ",".join("?" * len(models))
            where, params = f"model IN ({marks})", tuple(models)
        else:
            where, params = "model = ? AND batch_key = ?", (models[0], batch_key)
        # Most claims of an idle worker find nothing: look without taking the write lock.
        queued = self._read(
            f"SELECT 1 FROM jobs WHERE status = 'queued' AND {where} LIMIT 1", params
        )
        if queued.fetchone() is None:
            return []
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE jobs SET status = 'running', worker_id = ?, attempts = attempts + 1,"
                " started_at = ?, lease_expires_at = ?"
                " WHERE seq IN (SELECT seq FROM jobs WHERE status = 'queued'"
                f" AND {where} AND expires_at > ? ORDER BY priority DESC, seq LIMIT ?)"
                " RETURNING *",
                (worker_id, now, now + lease_seconds, *params, now, limit),
            ).fetchall()
            jobs = sorted((self._job(r) for r in rows), key=lambda j: (-j.priority, j.created_at))
            for job in jobs:
                self._status_event(conn, job, now)
        return [Claim(job, worker_id, job.attempts) for job in jobs]

    def heartbeat(self, claims: Sequence[Claim], now: float, lease_seconds: float) -> set[str]:
        stop: set[str] = set()
        with self._write() as conn:
            for claim in claims:
                row = conn.execute(
                    "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND worker_id = ?"
                    " AND attempts = ? AND status = 'running' RETURNING cancel_requested",
                    (now + lease_seconds, claim.job.id, claim.worker_id, claim.attempt),
                ).fetchone()
                if row is None or row[0]:
                    stop.add(claim.job.id)
        return stop

    _FENCE = "id = ? AND worker_id = ? AND attempts = ? AND status = 'running'"

    def _fence(self, claim: Claim) -> tuple[str, str, int]:
        return (claim.job.id, claim.worker_id, claim.attempt)

    def set_progress(self, claim: Claim, progress: Progress, now: float) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET progress_step = ?, progress_total = ?, progress_message = ?"
                f" WHERE {self._FENCE}",
                (progress.step, progress.total, progress.message, *self._fence(claim)),
            )
            if cur.rowcount == 0:
                return False
            data = progress_event_data(progress)
            self._event(conn, claim.job.id, EventType.PROGRESS, data, now)
        return True

    def add_event(self, claim: Claim, type: EventType, data: dict[str, Any], now: float) -> bool:
        with self._write() as conn:
            alive = conn.execute(f"SELECT 1 FROM jobs WHERE {self._FENCE}", self._fence(claim))
            if alive.fetchone() is None:
                return False
            self._event(conn, claim.job.id, type, data, now)
        return True

    def finish(
        self,
        claim: Claim,
        now: float,
        *,
        outputs: Sequence[Output] = (),
        error: JobError | None = None,
        canceled: bool = False,
        cost_actual: Decimal | None = None,
        inference_time: float | None = None,
    ) -> Job | None:
        with self._write() as conn:
            current = conn.execute(
                f"SELECT cancel_requested, cost_estimate_micros FROM jobs WHERE {self._FENCE}",
                self._fence(claim),
            ).fetchone()
            if current is None:
                return None
            status, outputs, charge = finish_outcome(
                outputs=outputs,
                error=error,
                canceled=canceled,
                cancel_requested=bool(current["cancel_requested"]),
                cost_actual=cost_actual,
                cost_estimate=from_micros(current["cost_estimate_micros"]),
            )
            done = status is JobStatus.SUCCEEDED
            row = conn.execute(
                "UPDATE jobs SET status = ?, outputs = ?, error_code = ?, error_message = ?,"
                " cost_actual_micros = ?, inference_time = ?, finished_at = ?,"
                " lease_expires_at = NULL,"
                " progress_step = CASE WHEN ? THEN MAX(progress_total, 1) ELSE progress_step END,"
                " progress_total = CASE WHEN ? THEN MAX(progress_total, 1) ELSE progress_total END"
                f" WHERE {self._FENCE} RETURNING *",
                (
                    status.value,
                    _dumps([o.to_dict() for o in outputs]),
                    error.code if error else None,
                    error.message if error else None,
                    to_micros(charge),
                    inference_time,
                    now,
                    done,
                    done,
                    *self._fence(claim),
                ),
            ).fetchone()
            job = self._job(row)
            if charge:
                conn.execute(
                    "UPDATE accounts SET credits_micros = credits_micros - ?"
                    " WHERE id = ? AND credits_micros IS NOT NULL",
                    (to_micros(charge), job.account_id),
                )
            for output in outputs:
                self._event(conn, job.id, EventType.OUTPUT, output.to_dict(), now)
            self._status_event(conn, job, now)
        return job

    # -- workers -------------------------------------------------------------------------
    def register_worker(
        self, worker_id: str, models: Sequence[str], host: str, pid: int, now: float
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO workers (id, models, host, pid, started_at, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,"
                " models = excluded.models",
                (worker_id, _dumps(list(models)), host, pid, now, now),
            )

    def unregister_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    def served_models(self, since: float) -> set[str]:
        rows = self._read("SELECT models FROM workers WHERE seen_at >= ?", (since,)).fetchall()
        return {name for row in rows for name in orjson.loads(row[0])}

    # -- recovery and housekeeping -------------------------------------------------------
    def _release(
        self, conn: sqlite3.Connection, where: str, args: tuple, now: float, max_attempts: int
    ) -> Released:
        # A job whose cancel was requested is not run again: it ends canceled.
        canceled = conn.execute(
            "UPDATE jobs SET status = 'canceled', finished_at = ?, cost_actual_micros = 0,"
            " lease_expires_at = NULL WHERE status = 'running' AND cancel_requested = 1"
            f" AND {where} RETURNING *",
            (now, *args),
        ).fetchall()
        failed = conn.execute(
            "UPDATE jobs SET status = 'failed', error_code = 'worker_lost', error_message = ?,"
            " finished_at = ?, cost_actual_micros = 0, lease_expires_at = NULL"
            f" WHERE status = 'running' AND attempts >= ? AND {where} RETURNING *",
            (
                worker_lost_message(max_attempts),
                now,
                max_attempts,
                *args,
            ),
        ).fetchall()
        requeued = conn.execute(
            "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL,"
            " progress_step = 0, progress_total = 0, progress_message = NULL"
            f" WHERE status = 'running' AND {where}"
            " RETURNING *",
            args,
        ).fetchall()
        for row in (*failed, *canceled, *requeued):
            self._status_event(conn, self._job(row), now)
        return Released(
            requeued=tuple(r["id"] for r in requeued),
            failed=tuple(r["id"] for r in (*failed, *canceled)),
        )

    def release_worker(self, worker_id: str, now: float, max_attempts: int) -> Released:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))
            return self._release(conn, "worker_id = ?", (worker_id,), now, max_attempts)

    def release_lapsed(self, now: float, max_attempts: int) -> Released:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE seen_at < ?", (now - FORGET_WORKER_SECONDS,))
            return self._release(conn, "lease_expires_at < ?", (now,), now, max_attempts)

    def cancel_running(self, job_id: str, now: float) -> Job | None:
        with self._write() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = 'canceled', finished_at = ?, cost_actual_micros = 0,"
                " lease_expires_at = NULL WHERE id = ? AND status = 'running' RETURNING *",
                (now, job_id),
            ).fetchone()
            if row is None:
                return None
            job = self._job(row)
            self._status_event(conn, job, now)
        return job

    def expire(self, now: float) -> Retired:
        with self._write() as conn:
            # A running job is asked to stop first; it is removed once it is terminal.
            stopping = conn.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE expires_at <= ? AND status = 'running'"
                " AND cancel_requested = 0 RETURNING id",
                (now,),
            ).fetchall()
            rows = conn.execute(
                "DELETE FROM jobs WHERE expires_at <= ? AND status != 'running' RETURNING *", (now,)
            ).fetchall()
            ids = [r["id"] for r in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                conn.execute(
                    f"DELETE FROM events WHERE job_id IN ({','.join('?' * len(chunk))})", chunk
                )
        return Retired(tuple(self._job(r) for r in rows), tuple(r["id"] for r in stopping))
