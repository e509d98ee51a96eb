"""The scaled-out job store: PostgreSQL, shared by any number of API and worker processes.

Claims take rows with ``FOR UPDATE SKIP LOCKED``, so concurrent workers never wait on each
other. Every change that someone may be waiting for is announced with ``pg_notify`` inside the
transaction that makes it, so the announcement goes out exactly when the change is visible:
``genq.notify.postgres.PostgresNotifier`` turns them back into the notifier topics.

Plain psycopg rather than an ORM for the same reason as the SQLite store: each call is one
short, hand-written transaction on the hot path of every job.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from genq.credits import from_micros, to_micros
from genq.errors import ConfigError, Conflict, StoreUnavailable
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
from genq.notify import Notifier, Topic
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

try:
    import psycopg
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "a postgresql:// database needs the PostgreSQL driver: pip install 'genq[postgres]'"
    ) from exc

log = logging.getLogger("genq.store.postgres")

T = TypeVar("T")
Row = dict[str, Any]

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
CONNECT_TIMEOUT = 5


def _identity(value: T) -> T:
    return value


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def parse_url(url: str) -> tuple[str, str]:
    """Split ``postgresql://...?schema=NAME`` into a libpq URL and the schema (default public)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    rest = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            rest.append((name, value))
    if not SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(
            f"invalid schema name {schema!r} in the database URL: use lower-case letters, "
            "digits and _ (at most 40)"
        )
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return conninfo, schema


def channel(schema: str, topic: Topic) -> str:
    """The NOTIFY channel that carries a topic's announcements for the jobs of one schema."""
    return f"genq_{schema}_{topic.value}"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def insert_args(new: NewJob) -> dict[str, Any]:
    """The parameters of the job insert statement."""
    args: dict[str, Any] = {
        "id": new.id,
        "account_id": new.account_id,
        "model": new.model,
        "input": Jsonb(new.input),
        "priority": new.priority,
        "metadata": Jsonb(new.metadata),
        "cost_estimate_micros": to_micros(new.cost_estimate),
        "created_at": new.created_at,
        "expires_at": new.expires_at,
        "idempotency_key": new.idempotency_key,
        "fingerprint": new.fingerprint,
        "batch_key": new.batch_key,
    }
    args["origin_api"], args["origin_model"], args["origin_request"] = origin_columns(new, Jsonb)
    return args


class PostgresStore(JobStore):
    blocking = True

    def __init__(self, url: str, *, migrate: bool = False) -> None:
        self.url = url
        self.conninfo, self.schema = parse_url(url)
        # The hot statements name this schema's channels: made once, not on every call.
        self._insert_job_sql = self._make_insert_job_sql()
        self._claim_sql = self._make_claim_sql()
        self._batch_claim_sql = self._make_claim_sql(batch=True)
        # One connection per thread, opened on first use and reopened when it breaks: the
        # API calls the store from a small, fixed pool of threads and each worker from two,
        # so a checkout per call (a connection pool) would only add work to every call.
        self._local = threading.local()
        self._opened: list[psycopg.Connection[Row]] = []
        self._opened_lock = threading.Lock()
        try:
            self._migrate(migrate)
        except BaseException:
            self.close()
            raise

    # -- plumbing ------------------------------------------------------------------------
    def connect(self, **kwargs: Any) -> psycopg.Connection[Row]:
        conn: psycopg.Connection[Row] | None = None
        try:
            conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=f"genq-{os.getpid()}",
                **kwargs,
            )
            set_json_loads(orjson.loads, conn)
            set_json_dumps(_dumps, conn)
            # The session may be cut between connecting and this: the same outage.
            conn.execute(f'SET search_path TO "{self.schema}"')
        except psycopg.OperationalError as exc:
            if conn is not None:
                conn.close()
            raise StoreUnavailable(
                f"cannot connect to the database {redact(self.url)}: {exc}".strip()
            ) from exc
        return conn

    @property
    def _conn(self) -> psycopg.Connection[Row]:
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            conn = self.connect()
            self._local.conn = conn
            with self._opened_lock:
                self._opened = [c for c in self._opened if not c.closed]
                self._opened.append(conn)
        return conn

    def _run(self, fn: Callable[[psycopg.Connection[Row]], T]) -> T:
        """Run ``fn`` with this thread's connection, once more on a new one if it broke.

        Every call here is safe to repeat: writes are fenced, keyed or idempotent, and
        ``submit`` recognises its own job id. After a database restart each thread's old
        connection fails once; the retry reconnects.
        """
        for attempt in (1, 2):
            try:
                conn = self._conn
            except StoreUnavailable:
                if attempt == 2:
                    raise
                log.warning("cannot connect to the database, retrying")
                continue
            try:
                return fn(conn)
            except psycopg.OperationalError as exc:
                # Deadlocks and serialization failures are OperationalErrors too: retrying
                # is also their cure.
                if attempt == 2:
                    raise StoreUnavailable(f"the database is unavailable: {exc}") from exc
                log.warning("database call failed, retrying: %s", exc)
                if conn.broken or conn.closed:
                    conn.close()
                    self._local.conn = None
        raise AssertionError("unreachable")

    def _one(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        return self._run(lambda conn: conn.execute(sql, args).fetchone())

    def _all(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return self._run(lambda conn: conn.execute(sql, args).fetchall())

    def channel(self, kind: str) -> str:
        return channel(self.schema, Topic(kind))

    def _notify(self, conn: psycopg.Connection[Row], kind: str, payloads: Sequence[str]) -> None:
        if payloads:
            conn.execute(
                "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                (self.channel(kind), list(payloads)),
            )

    def _migrate(self, migrate: bool) -> None:
        def run(conn: psycopg.Connection[Row]) -> None:
            with conn.transaction():
                # Several processes may start at once: one sets the schema up, the others
                # wait here and then find it done.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"genq-migrate:{self.schema}",)
                )
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute("CREATE TABLE IF NOT EXISTS genq_schema (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM genq_schema").fetchone()
                version = 0 if row is None else row["version"]
                where = f"{redact(self.url)} (schema {self.schema})"
                # A new, empty schema is set up at once; an existing one only by `genq migrate`.
                if (not migrate and version != 0) or version > SCHEMA_VERSION:
                    check_version(version, where)
                for number, statements in migrations("postgres"):
                    if number > version:
                        for statement in statements:
                            conn.execute(statement.encode())
                conn.execute("DELETE FROM genq_schema")
                conn.execute("INSERT INTO genq_schema VALUES (%s)", (max(version, SCHEMA_VERSION),))
                if version < SCHEMA_VERSION:
                    self.migrated = (version, SCHEMA_VERSION)

        try:
            self._run(run)
        except (psycopg.Error, StoreUnavailable) as exc:
            raise ConfigError(f"cannot set up the database {redact(self.url)}: {exc}") from exc

    def close(self) -> None:
        """Close every thread's connection (the threads must be done with the store)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def make_notifier(self, *, follow_jobs: bool = True) -> Notifier:
        from genq.notify.postgres import PostgresNotifier

        return PostgresNotifier(self.conninfo, self.schema, follow_jobs=follow_jobs)

    # -- rows ----------------------------------------------------------------------------
    @staticmethod
    def _job(row: Row) -> Job:
        return job_from_row(row, _identity)

    def _insert_events(
        self,
        conn: psycopg.Connection[Row],
        events: Sequence[tuple[str, str, dict[str, Any]]],
        now: float,
    ) -> None:
        if events:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events (job_id, type, data, created_at) VALUES (%s, %s, %s, %s)",
                    [(job_id, type, Jsonb(data), now) for job_id, type, data in events],
                )

    def _status_events(
        self, conn: psycopg.Connection[Row], jobs: Sequence[Job], now: float
    ) -> None:
        self._insert_events(
            conn, [(job.id, EventType.STATUS, status_event_data(job)) for job in jobs], now
        )
        self._notify(conn, "job", [job.id for job in jobs])

    # -- accounts and keys ---------------------------------------------------------------
    def ensure_account(self, name: str, credits: Decimal | None, now: float) -> Account:
        def run(conn: psycopg.Connection[Row]) -> Row | None:
            row = conn.execute(
                "INSERT INTO accounts (id, name, credits_micros, created_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING *",
                (f"acct_{uuid.uuid4().hex[:16]}", name, balance_micros(credits), now),
            ).fetchone()
            if row is None:
                row = conn.execute("SELECT * FROM accounts WHERE name = %s", (name,)).fetchone()
            return row

        row = self._run(run)
        assert row is not None
        return account_from_row(row)

    def get_account(self, account_id: str) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE id = %s", (account_id,))
        return None if row is None else account_from_row(row)

    _KEY_SELECT = (
        "SELECT k.*, a.name AS account_name FROM api_keys k JOIN accounts a ON a.id = k.account_id"
    )

    def create_key(
        self, key_id: str, account_id: str, name: str | None, key_hash: str, prefix: str, now: float
    ) -> ApiKey:
        row = self._one(
            "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " RETURNING *, (SELECT name FROM accounts WHERE id = account_id) AS account_name",
            (key_id, account_id, name, key_hash, prefix, now),
        )
        assert row is not None
        return key_from_row(row)

    def list_keys(self) -> list[ApiKey]:
        return [key_from_row(r) for r in self._all(f"{self._KEY_SELECT} ORDER BY k.created_at")]

    def set_key_disabled(self, key_id: str, disabled: bool) -> bool:
        row = self._one(
            "UPDATE api_keys SET disabled = %s WHERE id = %s RETURNING id", (disabled, key_id)
        )
        return row is not None

    def delete_key(self, key_id: str) -> bool:
        return self._one("DELETE FROM api_keys WHERE id = %s RETURNING id", (key_id,)) is not None

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = self._one(f"{self._KEY_SELECT} WHERE k.key_hash = %s", (key_hash,))
        return None if row is None else key_from_row(row)

    # -- the API side --------------------------------------------------------------------
    def _make_insert_job_sql(self) -> str:
        # One statement inserts the job and its first event and wakes the workers. ON
        # CONFLICT covers both an idempotency key used concurrently and a retry of this very
        # insert after a lost connection (same job id).
        return (
            "WITH j AS (INSERT INTO jobs (id, account_id, model, input, status, priority,"
            " metadata, cost_estimate_micros, created_at, expires_at, idempotency_key,"
            " fingerprint,"
            " batch_key, origin_api, origin_model, origin_request)"
            " VALUES (%(id)s, %(account_id)s, %(model)s, %(input)s, 'queued', %(priority)s,"
            " %(metadata)s, %(cost_estimate_micros)s, %(created_at)s, %(expires_at)s,"
            " %(idempotency_key)s, %(fingerprint)s, %(batch_key)s, %(origin_api)s,"
            " %(origin_model)s, %(origin_request)s)"
            " ON CONFLICT DO NOTHING RETURNING *),"
            " e AS (INSERT INTO events (job_id, type, data, created_at)"
            " SELECT id, 'status', '{\"status\": \"queued\"}', created_at FROM j)"
            f" SELECT j.*, pg_notify('{self.channel('queued')}', j.model) FROM j"
        )

    def submit(self, new: NewJob) -> Submitted:
        args = insert_args(new)

        def run(conn: psycopg.Connection[Row]) -> Submitted:
            # The account's balance and an earlier job with the same key, in one read.
            row = conn.execute(
                "SELECT a.credits_micros, j.id AS job_id FROM accounts a LEFT JOIN jobs j"
                " ON j.account_id = a.id AND j.idempotency_key = %s WHERE a.id = %s",
                (new.idempotency_key, new.account_id),
            ).fetchone()
            assert row is not None, f"no account {new.account_id}"
            if row["job_id"] is not None:
                return self._replay(conn, new)
            if row["credits_micros"] is None:
                inserted = conn.execute(self._insert_job_sql, args).fetchone()
            else:
                with conn.transaction():
                    # Submits of one limited account queue up here, so that their holds
                    # never add up to more than the balance.
                    credits = conn.execute(
                        "SELECT credits_micros FROM accounts WHERE id = %s FOR UPDATE",
                        (new.account_id,),
                    ).fetchone()
                    assert credits is not None
                    self._check_credits(conn, new, credits["credits_micros"])
                    inserted = conn.execute(self._insert_job_sql, args).fetchone()
            if inserted is None:
                return self._replay(conn, new)
            return Submitted(self._job(inserted), created=True)

        return self._run(run)

    def submit_many(self, news: Sequence[NewJob]) -> list[Job]:
        def run(conn: psycopg.Connection[Row]) -> list[Job]:
            jobs = []
            with conn.transaction():
                # The submits of one account queue up here, as in ``submit``.
                credits = conn.execute(
                    "SELECT credits_micros FROM accounts WHERE id = %s FOR UPDATE",
                    (news[0].account_id,),
                ).fetchone()
                assert credits is not None, f"no account {news[0].account_id}"
                for new in news:
                    if credits["credits_micros"] is not None:
                        self._check_credits(conn, new, credits["credits_micros"])
                    row = conn.execute(self._insert_job_sql, insert_args(new)).fetchone()
                    if row is None:
                        # Inserted by an attempt whose commit went through but whose answer
                        # was lost: the retry finds the jobs by their ids.
                        row = conn.execute("SELECT * FROM jobs WHERE id = %s", (new.id,)).fetchone()
                    assert row is not None
                    jobs.append(self._job(row))
            return jobs

        return self._run(run) if news else []

    def _replay(self, conn: psycopg.Connection[Row], new: NewJob) -> Submitted:
        row = conn.execute("SELECT * FROM jobs WHERE id = %s", (new.id,)).fetchone()
        if row is not None:
            # Our own insert, committed before its connection broke.
            return Submitted(self._job(row), created=True)
        row = conn.execute(
            "SELECT * FROM jobs WHERE account_id = %s AND idempotency_key = %s",
            (new.account_id, new.idempotency_key),
        ).fetchone()
        if row is None:
            # Deleted between the two reads: the key is free again.
            raise psycopg.errors.SerializationFailure("idempotent job deleted meanwhile")
        if row["fingerprint"] != new.fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used with a different request",
                code="idempotency_conflict",
                details={"job_id": row["id"]},
            )
        return Submitted(self._job(row), created=False)

    @staticmethod
    def _check_credits(conn: psycopg.Connection[Row], new: NewJob, credits: int) -> None:
        row = conn.execute(
            "SELECT COALESCE(SUM(cost_estimate_micros), 0) AS held FROM jobs"
            " WHERE account_id = %s AND status IN ('queued', 'running')",
            (new.account_id,),
        ).fetchone()
        # SUM of a BIGINT is a NUMERIC: a Decimal holding a whole number.
        check_credits(new, credits, int(row["held"]) if row else 0)

    def get_job(self, account_id: str, job_id: str, now: float) -> Job | None:
        row = self._one(
            "SELECT * FROM jobs WHERE id = %s AND account_id = %s AND expires_at > %s",
            (job_id, account_id, now),
        )
        return None if row is None else self._job(row)

    def get_job_any_account(self, job_id: str, now: float) -> Job | None:
        row = self._one("SELECT * FROM jobs WHERE id = %s AND expires_at > %s", (job_id, now))
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
            "%s", account_id, now, limit=limit, before_seq=before_seq, offset=offset, where=where
        )
        return [(r["seq"], self._job(r)) for r in self._all(sql, args)]

    def count_jobs(self, account_id: str, now: float, where: JobFilter = JobFilter()) -> int:
        sql, args = count_jobs_query("%s", account_id, now, where)
        row = self._one(sql, args)
        return int(row["n"]) if row is not None else 0

    def request_cancel(self, account_id: str, job_id: str, now: float) -> Job | None:
        def run(conn: psycopg.Connection[Row]) -> Job | None:
            with conn.transaction():
                row = conn.execute(
                    "SELECT * FROM jobs WHERE id = %s AND account_id = %s AND expires_at > %s"
                    " FOR UPDATE",
                    (job_id, account_id, now),
                ).fetchone()
                if row is None:
                    return None
                if row["status"] == "queued":
                    row = conn.execute(
                        "UPDATE jobs SET status = 'canceled', cancel_requested = TRUE,"
                        " finished_at = %s, cost_actual_micros = 0 WHERE id = %s RETURNING *",
                        (now, job_id),
                    ).fetchone()
                    assert row is not None
                    self._status_events(conn, [self._job(row)], now)
                elif row["status"] == "running" and not row["cancel_requested"]:
                    row = conn.execute(
                        "UPDATE jobs SET cancel_requested = TRUE WHERE id = %s RETURNING *",
                        (job_id,),
                    ).fetchone()
                    assert row is not None
                    self._insert_events(
                        conn, [(job_id, EventType.LOG, {"message": "cancel requested"})], now
                    )
                    self._notify(conn, "cancel", [job_id])
                    self._notify(conn, "job", [job_id])
                return self._job(row)

        return self._run(run)

    def delete_job(self, account_id: str, job_id: str, now: float) -> Job | None:
        def run(conn: psycopg.Connection[Row]) -> Job | None:
            with conn.transaction():
                row = conn.execute(
                    "DELETE FROM jobs WHERE id = %s AND account_id = %s AND expires_at > %s"
                    " RETURNING *",
                    (job_id, account_id, now),
                ).fetchone()
                if row is None:
                    return None
                conn.execute("DELETE FROM events WHERE job_id = %s", (job_id,))
                if row["status"] == "running":
                    self._notify(conn, "cancel", [job_id])
                self._notify(conn, "job", [job_id])
                return self._job(row)

        return self._run(run)

    def events_after(self, job_id: str, after_id: int, limit: int = 500) -> list[Event]:
        rows = self._all(
            "SELECT * FROM events WHERE job_id = %s AND id > %s ORDER BY id LIMIT %s",
            (job_id, after_id, limit),
        )
        return [event_from_row(r, _identity) for r in rows]

    def queue_position(self, job: Job) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND model = %s AND"
            " (priority > %s OR (priority = %s AND seq < (SELECT seq FROM jobs WHERE id = %s)))",
            (job.model, job.priority, job.priority, job.id),
        )
        return int(row["n"]) if row else 0

    # -- the worker side -----------------------------------------------------------------
    def _make_claim_sql(self, batch: bool = False) -> str:
        if batch:
            which = "model = %(model)s AND batch_key = %(batch_key)s"
        else:
            which = "model = ANY(%(models)s)"
        return (
            "WITH picked AS (SELECT seq FROM jobs WHERE status = 'queued'"
            f" AND {which} AND expires_at > %(now)s"
            " ORDER BY priority DESC, seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
            " c AS (UPDATE jobs SET status = 'running', worker_id = %(worker)s,"
            " attempts = attempts + 1, started_at = %(now)s, lease_expires_at = %(lease)s"
            " FROM picked WHERE jobs.seq = picked.seq RETURNING jobs.*),"
            " e AS (INSERT INTO events (job_id, type, data, created_at)"
            " SELECT id, 'status', '{\"status\": \"running\"}', %(now)s FROM c)"
            f" SELECT c.*, pg_notify('{self.channel('job')}', c.id) FROM c"
            " ORDER BY c.priority DESC, c.seq"
        )

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
        args = {
            "models": list(models),
            "model": models[0],
            "batch_key": batch_key,
            "now": now,
            "limit": limit,
            "worker": worker_id,
            "lease": now + lease_seconds,
        }
        sql = self._claim_sql if batch_key is None else self._batch_claim_sql
        rows = self._all(sql, args)
        return [Claim(job, worker_id, job.attempts) for job in map(self._job, rows)]

    _FENCE = "id = %s AND worker_id = %s AND attempts = %s AND status = 'running'"

    @staticmethod
    def _fence(claim: Claim) -> tuple[str, str, int]:
        return (claim.job.id, claim.worker_id, claim.attempt)

    def heartbeat(self, claims: Sequence[Claim], now: float, lease_seconds: float) -> set[str]:
        stop: set[str] = set()
        for claim in claims:
            row = self._one(
                f"UPDATE jobs SET lease_expires_at = %s WHERE {self._FENCE}"
                " RETURNING cancel_requested",
                (now + lease_seconds, *self._fence(claim)),
            )
            if row is None or row["cancel_requested"]:
                stop.add(claim.job.id)
        return stop

    def set_progress(self, claim: Claim, progress: Progress, now: float) -> bool:
        row = self._one(
            "WITH u AS (UPDATE jobs SET progress_step = %s, progress_total = %s,"
            f" progress_message = %s WHERE {self._FENCE} RETURNING id),"
            " e AS (INSERT INTO events (job_id, type, data, created_at)"
            " SELECT id, 'progress', %s, %s FROM u)"
            f" SELECT pg_notify('{self.channel('job')}', id) FROM u",
            (
                progress.step,
                progress.total,
                progress.message,
                *self._fence(claim),
                Jsonb(progress_event_data(progress)),
                now,
            ),
        )
        return row is not None

    def add_event(self, claim: Claim, type: EventType, data: dict[str, Any], now: float) -> bool:
        # The row lock orders this event after any other change of the job in flight.
        row = self._one(
            f"WITH a AS (SELECT id FROM jobs WHERE {self._FENCE} FOR UPDATE),"
            " e AS (INSERT INTO events (job_id, type, data, created_at)"
            " SELECT id, %s, %s, %s FROM a)"
            f" SELECT pg_notify('{self.channel('job')}', id) FROM a",
            (*self._fence(claim), type.value, Jsonb(data), now),
        )
        return row is not None

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
        def run(conn: psycopg.Connection[Row]) -> Job | None:
            with conn.transaction():
                current = conn.execute(
                    f"SELECT cancel_requested, cost_estimate_micros FROM jobs WHERE {self._FENCE}"
                    " FOR UPDATE",
                    self._fence(claim),
                ).fetchone()
                if current is None:
                    return None
                status, kept, charge = finish_outcome(
                    outputs=outputs,
                    error=error,
                    canceled=canceled,
                    cancel_requested=current["cancel_requested"],
                    cost_actual=cost_actual,
                    cost_estimate=from_micros(current["cost_estimate_micros"]),
                )
                done = status is JobStatus.SUCCEEDED
                row = conn.execute(
                    "UPDATE jobs SET status = %s, outputs = %s, error_code = %s,"
                    " error_message = %s, cost_actual_micros = %s, inference_time = %s,"
                    " finished_at = %s, lease_expires_at = NULL,"
                    " progress_step = CASE WHEN %s THEN GREATEST(progress_total, 1)"
                    " ELSE progress_step END,"
                    " progress_total = CASE WHEN %s THEN GREATEST(progress_total, 1)"
                    f" ELSE progress_total END WHERE {self._FENCE} RETURNING *",
                    (
                        status.value,
                        Jsonb([o.to_dict() for o in kept]),
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
                assert row is not None
                job = self._job(row)
                if charge:
                    conn.execute(
                        "UPDATE accounts SET credits_micros = credits_micros - %s"
                        " WHERE id = %s AND credits_micros IS NOT NULL",
                        (to_micros(charge), job.account_id),
                    )
                events = [(job.id, EventType.OUTPUT.value, o.to_dict()) for o in kept]
                events.append((job.id, EventType.STATUS.value, status_event_data(job)))
                self._insert_events(conn, events, now)
                self._notify(conn, "job", [job.id])
                return job

        return self._run(run)

    # -- workers -------------------------------------------------------------------------
    def register_worker(
        self, worker_id: str, models: Sequence[str], host: str, pid: int, now: float
    ) -> None:
        self._one(
            "INSERT INTO workers (id, models, host, pid, started_at, seen_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,"
            " models = excluded.models RETURNING id",
            (worker_id, list(models), host, pid, now, now),
        )

    def unregister_worker(self, worker_id: str) -> None:
        self._one("DELETE FROM workers WHERE id = %s RETURNING id", (worker_id,))

    def served_models(self, since: float) -> set[str]:
        rows = self._all(
            "SELECT DISTINCT unnest(models) AS model FROM workers WHERE seen_at >= %s", (since,)
        )
        return {r["model"] for r in rows}

    # -- recovery and housekeeping -------------------------------------------------------
    def _release(
        self, conn: psycopg.Connection[Row], where: str, arg: Any, now: float, max_attempts: int
    ) -> Released:
        # A job whose cancel was requested is not run again: it ends canceled.
        canceled = conn.execute(
            "UPDATE jobs SET status = 'canceled', finished_at = %s, cost_actual_micros = 0,"
            " lease_expires_at = NULL WHERE status = 'running' AND cancel_requested"
            f" AND {where} RETURNING *",
            (now, arg),
        ).fetchall()
        failed = conn.execute(
            "UPDATE jobs SET status = 'failed', error_code = 'worker_lost', error_message = %s,"
            " finished_at = %s, cost_actual_micros = 0, lease_expires_at = NULL"
            f" WHERE status = 'running' AND attempts >= %s AND {where} RETURNING *",
            (worker_lost_message(max_attempts), now, max_attempts, arg),
        ).fetchall()
        requeued = conn.execute(
            "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL,"
            " progress_step = 0, progress_total = 0, progress_message = NULL"
            f" WHERE status = 'running' AND {where} RETURNING *",
            (arg,),
        ).fetchall()
        jobs = [self._job(r) for r in (*failed, *canceled, *requeued)]
        self._status_events(conn, jobs, now)
        self._notify(conn, "queued", sorted({r["model"] for r in requeued}))
        return Released(
            requeued=tuple(r["id"] for r in requeued),
            failed=tuple(r["id"] for r in (*failed, *canceled)),
        )

    def release_worker(self, worker_id: str, now: float, max_attempts: int) -> Released:
        def run(conn: psycopg.Connection[Row]) -> Released:
            with conn.transaction():
                conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))
                return self._release(conn, "worker_id = %s", worker_id, now, max_attempts)

        return self._run(run)

    def release_lapsed(self, now: float, max_attempts: int) -> Released:
        def run(conn: psycopg.Connection[Row]) -> Released:
            with conn.transaction():
                conn.execute(
                    "DELETE FROM workers WHERE seen_at < %s", (now - FORGET_WORKER_SECONDS,)
                )
                # Several API processes sweep: a row taken back by one is skipped by the
                # others, which re-check the WHERE clause after waiting for its lock.
                return self._release(conn, "lease_expires_at < %s", now, now, max_attempts)

        return self._run(run)

    def cancel_running(self, job_id: str, now: float) -> Job | None:
        def run(conn: psycopg.Connection[Row]) -> Job | None:
            with conn.transaction():
                row = conn.execute(
                    "UPDATE jobs SET status = 'canceled', finished_at = %s, cost_actual_micros = 0,"
                    " lease_expires_at = NULL WHERE id = %s AND status = 'running' RETURNING *",
                    (now, job_id),
                ).fetchone()
                if row is None:
                    return None
                job = self._job(row)
                self._status_events(conn, [job], now)
                return job

        return self._run(run)

    def expire(self, now: float) -> Retired:
        def run(conn: psycopg.Connection[Row]) -> Retired:
            with conn.transaction():
                stopping = conn.execute(
                    "UPDATE jobs SET cancel_requested = TRUE WHERE expires_at <= %s"
                    " AND status = 'running' AND NOT cancel_requested RETURNING id",
                    (now,),
                ).fetchall()
                # Each expired row is returned to exactly one of several concurrent sweepers,
                # so its files are removed once.
                rows = conn.execute(
                    "DELETE FROM jobs WHERE expires_at <= %s AND status != 'running' RETURNING *",
                    (now,),
                ).fetchall()
                ids = [r["id"] for r in rows]
                if ids:
                    conn.execute("DELETE FROM events WHERE job_id = ANY(%s)", (ids,))
                self._notify(conn, "cancel", [r["id"] for r in stopping])
                self._notify(conn, "job", ids)
                return Retired(tuple(self._job(r) for r in rows), tuple(r["id"] for r in stopping))

        return self._run(run)
