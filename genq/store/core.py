"""The job store, written once for every engine: each method is one short transaction over an
``Engine`` (``genq.store.sqlite``, ``genq.store.postgres``), with the statements of
``genq.store.queries``, and every change of a job goes through ``SQLStore.change``.

Plain SQL rather than an ORM: every call is on the hot path of every job, and the server's CPU
per job is a tracked figure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from genq import account_limits, pricing
from genq.credits import from_micros, to_micros
from genq.errors import Clash
from genq.jobs import (
    Claim,
    EventRecord,
    EventType,
    Failure,
    JobRecord,
    OutputRecord,
    ProgressRecord,
    Status,
)
from genq.store import fair
from genq.store import queries as q
from genq.store.accounts import AccountStatements
from genq.store.base import (
    FORGET_WORKER_SECONDS,
    JobFilter,
    JobStore,
    NewJob,
    Released,
    Retired,
    Scheduling,
    Submitted,
)
from genq.store.changes import Change
from genq.store.deadlines import DeadlineStatements
from genq.store.engine import Again, Announce, Args, Engine, Tx
from genq.store.estimates import EstimateStatements
from genq.store.retries import RetryStatements
from genq.store.rows import (
    Row,
    event_columns,
    event_from_row,
    finish_outcome,
    job_columns,
    job_from_row,
    progress_event_data,
    worker_lost_message,
)
from genq.store.streams import StreamStatements
from genq.store.webhooks import WebhookStatements


def _fence(claim: Claim) -> dict[str, Any]:
    return {"id": claim.job.id, "worker_id": claim.worker_id, "attempt": claim.attempt}


class SQLStore(
    AccountStatements,
    WebhookStatements,
    RetryStatements,
    DeadlineStatements,
    EstimateStatements,
    StreamStatements,
    JobStore,
):
    """A ``JobStore`` over a database engine's adapter."""

    def __init__(self, url: str, db: Engine) -> None:
        #: The database URL (``open_store``'s).
        self.url = url
        self._db = db
        self.blocking = db.blocking
        self.migrated = db.migrated

    def close(self) -> None:
        self._db.close()

    def ping(self) -> None:
        self._db.one("SELECT 1", {})

    def on_change(self, announce: Announce | None) -> None:
        self._db.on_change(announce)

    def change(
        self,
        tx: Tx,
        change: Change,
        args: Args,
        now: float,
        event: tuple[EventType, dict[str, Any]] | None = None,
    ) -> list[Row]:
        """Change jobs: the one way every engine changes a job's status (and makes any other
        change someone may wait for). Runs ``change.sql`` and, in the same transaction,
        writes the event each changed job records (``change.record``: its status event, or
        ``event``), dated ``now``, and announces the change on ``change.announce``'s topics
        (see ``JobStore.on_change``). Returns the changed jobs' rows.

        This is where what must follow every status change attaches (a webhook outbox, a
        metric, an audit record), so that no transaction and no engine can miss it: a
        callback here, on the rows; a row that must commit with the change, beside the event
        row in the engines' ``Tx.change`` (on PostgreSQL one more part of the same statement).
        """
        given = None if event is None else (event[0].value, self._db.json(event[1]))
        return tx.change(change, args, now, given)

    def _write_change(
        self,
        change: Change,
        args: Args,
        now: float,
        event: tuple[EventType, dict[str, Any]] | None = None,
    ) -> list[Row]:
        return self._db.write(lambda tx: self.change(tx, change, args, now, event))

    def _job(self, row: Row) -> JobRecord:
        return job_from_row(row, self._db.decode)

    def _first_job(self, rows: Sequence[Row]) -> JobRecord | None:
        return self._job(rows[0]) if rows else None

    # -- the API side --------------------------------------------------------------------
    def _insert(self, tx: Tx, new: NewJob, args: Args) -> JobRecord | None:
        """Insert a queued job (with its first event, announced), or None when the job's id or
        idempotency key is taken."""
        if new.retry_of is not None:
            return self._insert_retry(tx, new, args)
        return self._first_job(self.change(tx, q.INSERT_JOB, args, new.created_at))

    def _check_credits(self, tx: Tx, new: NewJob, credits: int) -> None:
        row = tx.one(q.HELD, {"account_id": new.account_id})
        # PostgreSQL's SUM of a BIGINT is a NUMERIC: a Decimal holding a whole number.
        pricing.check_balance(new.cost_estimate, credits, int(row["held"]) if row else 0)

    def _capped(self, account: Row, new: NewJob) -> bool:
        return account_limits.cap(account["max_queued"], new.max_queued_default) is not None

    def _check_queued(self, tx: Tx, new: NewJob, account: Row, adding: int) -> None:
        """Refuse ``adding`` jobs beyond the account's cap of queued jobs: called with the
        account's row locked, so that the count holds until the jobs are inserted."""
        most = account_limits.cap(account["max_queued"], new.max_queued_default)
        if most is not None:
            row = tx.one(q.QUEUED_OF, {"account_id": new.account_id})
            account_limits.check_queued(int(row["n"]) if row else 0, adding, most)

    def submit(self, new: NewJob) -> Submitted:
        args = job_columns(new, self._db.json)

        def run(tx: Tx) -> Submitted:
            # The account's balance and a job this submit already made, in one read.
            row = tx.one(q.BALANCE_AND_KEYED_JOB, args)
            assert row is not None, f"no account {new.account_id}"
            if row["job_id"] is not None:
                return self._replay(tx, new)
            if new.over_quota is not None:
                account_limits.check_quota(*new.over_quota)
            if row["credits_micros"] is None and not self._capped(row, new):
                job = self._insert(tx, new, args)
            else:
                with tx.atomic():
                    # Submits of one limited account queue up here, so that their holds
                    # never add up to more than the balance, nor their jobs to more than
                    # its cap of queued jobs.
                    locked = tx.one(q.LOCK_BALANCE, args)
                    assert locked is not None
                    if locked["credits_micros"] is not None:
                        self._check_credits(tx, new, locked["credits_micros"])
                    self._check_queued(tx, new, locked, 1)
                    job = self._insert(tx, new, args)
            return self._replay(tx, new) if job is None else Submitted(job, created=True)

        return self._db.write(run)

    def submit_many(self, news: Sequence[NewJob]) -> list[JobRecord]:
        def run(tx: Tx) -> list[JobRecord]:
            jobs = []
            with tx.atomic():
                # The submits of one account queue up here, as in ``submit``.
                balance = tx.one(q.LOCK_BALANCE, {"account_id": news[0].account_id})
                assert balance is not None, f"no account {news[0].account_id}"
                if self._first_job(tx.all(q.JOB, {"id": news[0].id})) is not None:
                    # Made by an attempt whose commit went through but whose answer was lost
                    # (the jobs commit together): its jobs, not a second hold.
                    found = [self._first_job(tx.all(q.JOB, {"id": new.id})) for new in news]
                    return [job for job in found if job is not None]
                self._check_queued(tx, news[0], balance, len(news))
                for new in news:
                    if balance["credits_micros"] is not None:
                        self._check_credits(tx, new, balance["credits_micros"])
                    job = self._insert(tx, new, job_columns(new, self._db.json))
                    assert job is not None, f"job {new.id} made meanwhile"
                    jobs.append(job)
            return jobs

        return self._db.write(run) if news else []

    def _replay(self, tx: Tx, new: NewJob) -> Submitted:
        job = self._first_job(tx.all(q.JOB, {"id": new.id}))
        if job is not None:
            # Our own insert, committed before its connection broke.
            return Submitted(job, created=True)
        args = {"account_id": new.account_id, "idempotency_key": new.idempotency_key}
        row = tx.one(q.JOB_BY_KEY, args)
        if row is None:
            # Deleted between the two reads: the key is free again.
            raise Again("idempotent job deleted meanwhile")
        if row["fingerprint"] != new.fingerprint:
            raise Clash(
                "this Idempotency-Key was already used with a different request",
                code="idempotency_conflict",
                details={"job_id": row["id"]},
            )
        return Submitted(self._job(row), created=False)

    def get_job(self, account_id: str, job_id: str, now: float) -> JobRecord | None:
        args = {"id": job_id, "account_id": account_id, "now": now}
        return self._first_job(self._db.all(q.LIVE_JOB, args))

    async def read_job(self, account_id: str, job_id: str, now: float) -> JobRecord | None:
        args = {"id": job_id, "account_id": account_id, "now": now}
        return self._first_job(await self._db.read(q.LIVE_JOB, args))

    def get_job_any_account(self, job_id: str, now: float) -> JobRecord | None:
        return self._first_job(self._db.all(q.LIVE_JOB_ANY_ACCOUNT, {"id": job_id, "now": now}))

    def list_jobs(
        self,
        account_id: str,
        now: float,
        *,
        limit: int,
        before_seq: int | None = None,
        offset: int = 0,
        where: JobFilter = JobFilter(),
    ) -> list[tuple[int, JobRecord]]:
        sql, args = q.list_jobs(
            account_id, now, limit=limit, before_seq=before_seq, offset=offset, where=where
        )
        return [(r["seq"], self._job(r)) for r in self._db.all(sql, args)]

    async def read_jobs(
        self,
        account_id: str,
        now: float,
        *,
        limit: int,
        before_seq: int | None = None,
        offset: int = 0,
        where: JobFilter = JobFilter(),
    ) -> list[tuple[int, JobRecord]]:
        sql, args = q.list_jobs(
            account_id, now, limit=limit, before_seq=before_seq, offset=offset, where=where
        )
        return [(r["seq"], self._job(r)) for r in await self._db.read(sql, args)]

    def count_jobs(self, account_id: str, now: float, where: JobFilter = JobFilter()) -> int:
        row = self._db.one(*q.count_jobs(account_id, now, where))
        return int(row["n"]) if row is not None else 0

    async def read_count(self, account_id: str, now: float, where: JobFilter = JobFilter()) -> int:
        rows = await self._db.read(*q.count_jobs(account_id, now, where))
        return int(rows[0]["n"]) if rows else 0

    def request_cancel(
        self, account_id: str, job_id: str, now: float, *, queued_only: bool = False
    ) -> JobRecord | None:
        args = {"id": job_id, "account_id": account_id, "now": now}

        def run(tx: Tx) -> JobRecord | None:
            with tx.atomic():
                row = tx.one(q.LOCK_LIVE_JOB, args)
                if row is None:
                    return None
                if row["status"] == "queued":
                    row = self.change(tx, q.CANCEL_QUEUED, args, now)[0]
                elif row["status"] == "running" and not (row["cancel_requested"] or queued_only):
                    logged = (EventType.LOG, {"message": "cancel requested"})
                    row = self.change(tx, q.FLAG_CANCEL, args, now, logged)[0]
                return self._job(row)

        return self._db.write(run)

    def delete_job(self, account_id: str, job_id: str, now: float) -> JobRecord | None:
        args = {"id": job_id, "account_id": account_id, "now": now}

        def run(tx: Tx) -> JobRecord | None:
            with tx.atomic():
                job = self._first_job(self.change(tx, q.DELETE_JOB, args, now))
                if job is not None:
                    tx.run(q.DELETE_EVENTS, args)
                    tx.run(q.DELETE_DELIVERIES, args)
                return job

        return self._db.write(run)

    def events_after(self, job_id: str, after_id: int, limit: int = 500) -> list[EventRecord]:
        args = {"job_id": job_id, "after_id": after_id, "limit": limit}
        return [event_from_row(r, self._db.decode) for r in self._db.all(q.EVENTS_AFTER, args)]

    async def read_events(self, job_id: str, after_id: int, limit: int = 500) -> list[EventRecord]:
        args = {"job_id": job_id, "after_id": after_id, "limit": limit}
        rows = await self._db.read(q.EVENTS_AFTER, args)
        return [event_from_row(r, self._db.decode) for r in rows]

    async def close_reads(self) -> None:
        await self._db.close_reads()

    def queue_depths(self) -> dict[str, tuple[int, float]]:
        rows = self._db.all(q.QUEUE_DEPTHS, {})
        return {row["model"]: (row["n"], row["oldest"]) for row in rows}

    def queue_position(self, job: JobRecord) -> int:
        args = {"id": job.id, "model": job.model, "priority": job.priority}
        row = self._db.one(q.QUEUE_POSITION, args)
        return int(row["n"]) if row else 0

    # -- the worker side -----------------------------------------------------------------
    def claim(
        self,
        worker_id: str,
        models: Sequence[str],
        now: float,
        lease_seconds: float,
        limit: int = 1,
        batch_key: str | None = None,
        scheduling: Scheduling = Scheduling(),
    ) -> list[Claim]:
        if not models:
            return []
        args = dict(models=self._db.array(models), model=models[0], batch_key=batch_key, now=now)
        args.update(limit=limit, worker_id=worker_id, lease=now + lease_seconds)
        args.update(
            charge=scheduling.charge,
            max_running=scheduling.max_running_default or 0,
            # No aging: a step no wait reaches.
            aging=scheduling.aging_seconds or 1e18,
            credit=scheduling.credit_seconds,
        )
        if batch_key is not None:
            peek, fill = q.ANY_QUEUED_BATCH, q.CLAIM_BATCH
        elif len(set(models)) == 1:
            peek, fill = q.ANY_QUEUED, q.CLAIM_MODEL
        else:
            peek, fill = q.ANY_QUEUED, q.CLAIM
        # Most claims of an idle worker find nothing: look without taking a write lock that
        # holds the whole database.
        if self._db.exclusive_writes and self._db.one(peek, args) is None:
            return []

        def run(tx: Tx) -> list[Row]:
            with tx.atomic():
                # The fair pick (each account's next job, ranked); the jobs of a batch after
                # its first, and what it left short (more jobs than accounts waiting, or, on
                # PostgreSQL, heads other claims hold), in queue order.
                ranked = [] if batch_key is not None else tx.all(fair.PICK, args)
                rows = []
                if ranked:
                    taken = {**args, "seqs": self._db.array([r["seq"] for r in ranked])}
                    rows = self.change(tx, fair.TAKE_PICKED, taken, now)
                if len(rows) < limit:
                    rows += self.change(tx, fill, {**args, "limit": limit - len(rows)}, now)
                at = {r["seq"]: r["vt"] for r in ranked}
                for row in rows:
                    charge = {"id": row["account_id"], "vt": at.get(row["seq"], 0.0)}
                    tx.run(fair.CHARGE, {**charge, "charge": scheduling.charge})
                return rows

        rows = self._db.write(run)
        rows.sort(key=lambda r: (-r["priority"], r["seq"]))
        return [Claim(job, worker_id, job.attempts) for job in map(self._job, rows)]

    def heartbeat(self, claims: Sequence[Claim], now: float, lease_seconds: float) -> set[str]:
        def run(tx: Tx) -> set[str]:
            stop: set[str] = set()
            for claim in claims:
                row = tx.one(q.HEARTBEAT, {"lease": now + lease_seconds, **_fence(claim)})
                if row is None or row["cancel_requested"]:
                    stop.add(claim.job.id)
            return stop

        return self._db.write(run)

    def set_progress(self, claim: Claim, progress: ProgressRecord, now: float) -> bool:
        args = dict(_fence(claim), step=progress.step, total=progress.total)
        args["message"] = progress.message
        event = (EventType.PROGRESS, progress_event_data(progress))
        return bool(self._write_change(q.SET_PROGRESS, args, now, event))

    def add_event(self, claim: Claim, type: EventType, data: dict[str, Any], now: float) -> bool:
        return bool(self._write_change(q.ADD_EVENT, _fence(claim), now, (type, data)))

    def finish(
        self,
        claim: Claim,
        now: float,
        *,
        outputs: Sequence[OutputRecord] = (),
        error: Failure | None = None,
        canceled: bool = False,
        cost_actual: Decimal | None = None,
        inference_time: float | None = None,
        load_time: float | None = None,
    ) -> JobRecord | None:
        def run(tx: Tx) -> JobRecord | None:
            with tx.atomic():
                current = tx.one(q.LOCK_CLAIMED, _fence(claim))
                if current is None:
                    return None
                status, kept, charge = finish_outcome(
                    outputs=outputs,
                    error=error,
                    canceled=canceled,
                    cancel_requested=bool(current["cancel_requested"]),
                    cost_actual=cost_actual,
                    cost_estimate=from_micros(current["cost_estimate_micros"]),
                )
                kept_data = [o.to_dict() for o in kept]
                if kept:
                    # The outputs' events come before the status event that ends the job.
                    encode = self._db.json
                    events = [
                        event_columns(claim.job.id, "output", encode(o), now) for o in kept_data
                    ]
                    tx.many(q.INSERT_EVENT, events)
                args = dict(_fence(claim), status=status.value, outputs=self._db.json(kept_data))
                args["error_code"] = error.code if error else None
                args["error_message"] = error.message if error else None
                args.update(charge=to_micros(charge), inference_time=inference_time, now=now)
                args["load_time"] = load_time
                args["output_bytes"] = sum(o.size for o in kept)
                args["done"] = status is Status.SUCCEEDED
                job = self._job(self.change(tx, q.FINISH, args, now)[0])
                if charge:
                    tx.run(q.CHARGE, {"charge": to_micros(charge), "account_id": job.account_id})
                self._correct_fair_charge(tx, claim.job, now)
                return job

        return self._db.write(run)

    def _correct_fair_charge(self, tx: Tx, job: JobRecord, now: float) -> None:
        """An attempt of ``job`` (as its claim took it) ended at ``now``: its account is
        charged the worker time it really took, not the estimate its claim charged
        (``genq.store.fair``)."""
        if job.fair_charge is not None and job.started_at is not None:
            ran = max(0.0, now - job.started_at)
            args = {"ran": ran, "charged": job.fair_charge, "account_id": job.account_id}
            tx.run(fair.CORRECT, args)

    # -- workers -------------------------------------------------------------------------
    def register_worker(
        self, worker_id: str, models: Sequence[str], host: str, pid: int, now: float
    ) -> None:
        args = dict(id=worker_id, models=self._db.array(models), host=host, pid=pid, now=now)
        self._db.write(lambda tx: tx.run(q.REGISTER_WORKER, args))

    def unregister_worker(self, worker_id: str) -> None:
        self._db.write(lambda tx: tx.run(q.UNREGISTER_WORKER, {"id": worker_id}))

    def served_models(self, since: float) -> set[str]:
        return set(self.workers_per_model(since))

    def workers_per_model(self, since: float) -> dict[str, int]:
        rows = self._db.all(q.SERVED_MODELS, {"since": since})
        return dict(Counter(name for row in rows for name in self._db.decode(row["models"])))

    async def read_model_workers(self, model: str, since: float) -> tuple[int, int]:
        live = await self._db.read(q.LIVE_WORKERS, {"since": since})
        serving = {row["id"] for row in live if model in self._db.decode(row["models"])}
        busy = {row["worker_id"] for row in await self._db.read(q.BUSY_WORKERS, {})}
        return len(serving), len(serving & busy)

    # -- recovery and housekeeping -------------------------------------------------------
    def _release(self, tx: Tx, which: q.Release, args: Args, now: float) -> Released:
        canceled = self.change(tx, which.canceled, args, now)
        failed = self.change(tx, which.failed, args, now)
        requeued = self.change(tx, which.requeued, args, now)
        return Released(
            requeued=tuple(r["id"] for r in requeued),
            failed=tuple(r["id"] for r in (*failed, *canceled)),
        )

    def _release_args(self, now: float, max_attempts: int, **more: Any) -> dict[str, Any]:
        message = worker_lost_message(max_attempts)
        return {"now": now, "max_attempts": max_attempts, "message": message, **more}

    def release_worker(self, worker_id: str, now: float, max_attempts: int) -> Released:
        args = self._release_args(now, max_attempts, worker_id=worker_id)

        def run(tx: Tx) -> Released:
            with tx.atomic():
                tx.run(q.UNREGISTER_WORKER, {"id": worker_id})
                return self._release(tx, q.RELEASE_WORKER, args, now)

        return self._db.write(run)

    def release_lapsed(self, now: float, max_attempts: int) -> Released:
        args = self._release_args(now, max_attempts, before=now - FORGET_WORKER_SECONDS)

        def run(tx: Tx) -> Released:
            with tx.atomic():
                tx.run(q.FORGET_SILENT_WORKERS, args)
                # Several API processes sweep: a row taken back by one is skipped by the
                # others, which re-check the WHERE clause after waiting for its lock.
                return self._release(tx, q.RELEASE_LAPSED, args, now)

        return self._db.write(run)

    def cancel_running(self, job_id: str, now: float) -> JobRecord | None:
        args = {"id": job_id, "now": now}
        return self._first_job(self._write_change(q.CANCEL_RUNNING, args, now))

    def expire(self, now: float) -> Retired:
        def run(tx: Tx) -> Retired:
            with tx.atomic():
                stopping = self.change(tx, q.EXPIRE_RUNNING, {"now": now}, now)
                # Each expired row is returned to exactly one of several concurrent sweepers,
                # so its files are removed once.
                removed = self.change(tx, q.EXPIRE, {"now": now}, now)
                if removed:
                    ids = self._db.array([r["id"] for r in removed])
                    tx.run(q.DELETE_EVENTS_OF, {"ids": ids})
                    tx.run(q.DELETE_DELIVERIES_OF, {"ids": ids})
                return Retired(tuple(map(self._job, removed)), tuple(r["id"] for r in stopping))

        return self._db.write(run)
