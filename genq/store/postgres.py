"""The scaled-out job store: PostgreSQL, shared by any number of API and worker processes.

Claims take rows with ``FOR UPDATE SKIP LOCKED``, so concurrent workers never wait on each
other. A change of jobs is one statement: the change, its event rows and its announcements
(``pg_notify``, to every process, exactly when the change becomes visible) in one round trip;
``genq.notify.postgres.PostgresNotifier`` turns the announcements back into topics.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from genq.errors import ConfigError, StoreUnavailable
from genq.notify.base import Topic
from genq.store.changes import ANNOUNCED, ENDED, GIVEN_WEBHOOKS, Change, PerEngine, Record, Sql
from genq.store.core import SQLStore
from genq.store.engine import Again, Announce, Args, Engine, T, Tx
from genq.store.rows import Row
from genq.store.schema import SCHEMA_VERSION, check_version, migrations

try:
    import psycopg
    import psycopg_pool
    from psycopg import Transaction
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "a postgresql:// database needs the PostgreSQL driver: pip install 'genq[postgres]'"
    ) from exc

log = logging.getLogger("genq.store.postgres")

Connection = psycopg.Connection[dict[str, Any]]
AsyncConnection = psycopg.AsyncConnection[dict[str, Any]]

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
CONNECT_TIMEOUT = 5
#: Connections an API process reads on from its event loop (``PostgresEngine.read``).
READ_CONNECTIONS = 4
#: How long a read waits for one of them before it reads in a thread instead.
READ_WAIT = 0.25
#: How long reads stay in threads after the loop's connections failed one.
READERS_PAUSE = 2.0
_NAMED = re.compile(r"(?<![:\w]):(\w+)")

#: ``rows.status_event_data`` of a changed row ``c``, as the same JSON built in SQL.
_STATUS_DATA = (
    "jsonb_build_object('status', c.status) || CASE WHEN c.error_code IS NULL THEN '{}'::jsonb"
    " ELSE jsonb_build_object('error', jsonb_build_object('code', c.error_code,"
    " 'message', COALESCE(c.error_message, ''))) END"
)
_EVENT = {Record.STATUS: f"'status', {_STATUS_DATA}", Record.GIVEN: ":event_type, :event_data"}
#: ``changes.due_events`` in SQL: per change record, the webhook events a changed row ``c``
#: may make due, in order (NULL: none).
_ENDED = ", ".join(f"'{status}'" for status in ENDED)
_DUE_WEBHOOKS = {
    Record.STATUS: (
        "(VALUES (1, CASE WHEN c.status = 'succeeded' AND jsonb_array_length(c.outputs) > 0"
        " THEN 'output' END), (2, CASE WHEN c.status = 'running' THEN 'start'"
        f" WHEN c.status IN ({_ENDED}) THEN 'completed' END))"
    ),
    Record.GIVEN: (
        "(VALUES (1, CASE WHEN CAST(:event_type AS TEXT) IN"
        f" ({', '.join(repr(e.value) for e in GIVEN_WEBHOOKS)}) THEN CAST(:event_type AS TEXT)"
        " END))"
    ),
}
# ``rows.new_delivery_id`` in SQL: 32 hex digits, as random.
_DELIVERY_ID = (
    "'msg_' || md5(c.id || w.event || CAST(random() AS TEXT) || CAST(clock_timestamp() AS TEXT))"
)


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


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def channel(schema: str, topic: Topic) -> str:
    """The NOTIFY channel that carries a topic's announcements for the jobs of one schema."""
    return f"genq_{schema}_{topic.value}"


@functools.lru_cache(maxsize=512)
def spelled(sql: Sql) -> str:
    """A statement in psycopg's spelling: ``%(name)s`` parameters."""
    if isinstance(sql, PerEngine):
        sql = sql.postgres
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _identity(value: T) -> T:
    return value


class PostgresTx(Tx):
    def __init__(self, conn: Connection, engine: PostgresEngine) -> None:
        super().__init__(conn, spelled)
        self.engine = engine

    def atomic(self) -> AbstractContextManager[Transaction]:
        return self.conn.transaction()

    def change(
        self, change: Change, args: Args, now: float, event: tuple[str, Any] | None
    ) -> list[Row]:
        args = {**args, "event_at": now}
        if event is not None:
            args["event_type"], args["event_data"] = event
        rows: list[Row] = self.conn.execute(self.engine.statement(change), args).fetchall()
        return rows


class PostgresEngine(Engine):
    blocking = True
    exclusive_writes = False
    decode = staticmethod(_identity)

    def __init__(self, url: str, *, migrate: bool) -> None:
        self.url = url
        self.conninfo, self.schema = parse_url(url)
        self._statements: dict[Change, str] = {}
        # One connection per thread, opened on first use and reopened when it breaks: the
        # API calls the store from a small, fixed pool of threads and each worker from two,
        # so a checkout per call (a connection pool) would only add work to every call.
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()
        #: The event loop's connections (``read``), opened by the first read, on its loop.
        self._readers: psycopg_pool.AsyncConnectionPool[AsyncConnection] | None = None
        self._readers_loop: asyncio.AbstractEventLoop | None = None
        self._readers_resume_at = 0.0
        self._readers_closed = False
        try:
            self._migrate(migrate)
        except BaseException:
            self.close()
            raise

    # -- spelling ------------------------------------------------------------------------
    def json(self, value: Any) -> Jsonb:
        return Jsonb(value)

    def array(self, values: Sequence[str]) -> list[str]:
        return list(values)

    def statement(self, change: Change) -> str:
        """``change`` as one statement: the change, then from its rows (``c``) the events
        (``e``) and the announcements, in one round trip."""
        sql = self._statements.get(change)
        if sql is None:
            raw = change.sql.postgres if isinstance(change.sql, PerEngine) else change.sql
            sql = f"WITH c AS ({raw})"
            if change.record in _EVENT:
                sql += (
                    ", e AS (INSERT INTO events (job_id, type, data, created_at)"
                    f" SELECT c.id, {_EVENT[change.record]}, :event_at FROM c)"
                )
            if change.record in _DUE_WEBHOOKS:
                # The calls of the job's own webhook (``queries.INSERT_DELIVERY``), then those
                # of the account's endpoints that want the event for the job's model
                # (``queries.INSERT_ENDPOINT_DELIVERIES``): a progress call is not added while
                # another of the job's to the same webhook waits.
                due = f"c CROSS JOIN LATERAL {_DUE_WEBHOOKS[change.record]} AS w(n, event)"
                at = ":event_at + w.n * 1e-6"
                waiting = (
                    "w.event <> 'progress' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries p"
                    " WHERE p.job_id = c.id AND p.endpoint_id IS NOT DISTINCT FROM {}"
                    " AND p.event = 'progress' AND p.state = 'pending')"
                )
                sql += (
                    ", d AS (INSERT INTO webhook_deliveries"
                    " (id, job_id, account_id, event, url, created_at, next_at)"
                    f" SELECT {_DELIVERY_ID}, c.id, c.account_id, w.event, c.webhook, {at}, {at}"
                    f" FROM {due} WHERE c.webhook IS NOT NULL AND w.event IS NOT NULL"
                    f" AND c.webhook_events ? w.event AND ({waiting.format('NULL')}))"
                    ", h AS (INSERT INTO webhook_deliveries"
                    " (id, job_id, account_id, endpoint_id, event, url, created_at, next_at)"
                    f" SELECT {_DELIVERY_ID.replace('w.event', 'w.event || h.id')}, c.id,"
                    f" c.account_id, h.id, w.event, h.url, {at}, {at} FROM {due}"
                    " JOIN webhook_endpoints h ON h.account_id = c.account_id"
                    " AND h.disabled_at IS NULL AND h.events ? w.event"
                    " AND (h.models IS NULL OR h.models ? c.model)"
                    f" WHERE w.event IS NOT NULL AND ({waiting.format('h.id')}))"
                )
            notify = "".join(f", {self._notify(topic)}" for topic in change.announce)
            sql = self._statements[change] = spelled(f"{sql} SELECT c.*{notify} FROM c")
        return sql

    def _notify(self, topic: Topic) -> str:
        column, status = ANNOUNCED[topic]
        call = f"pg_notify('{channel(self.schema, topic)}', c.{column})"
        return call if status is None else f"CASE WHEN c.status = '{status}' THEN {call} END"

    # -- connections ---------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": f"genq-{os.getpid()}",
        }

    def connect(self, **kwargs: Any) -> Connection:
        conn: Connection | None = None
        try:
            conn = psycopg.connect(self.conninfo, **{**self._options(), **kwargs})
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
    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            conn = self.connect()
            self._local.conn = conn
            with self._opened_lock:
                self._opened = [c for c in self._opened if not c.closed]
                self._opened.append(conn)
        return conn

    def _run(self, fn: Callable[[Connection], T]) -> T:
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
            except (psycopg.OperationalError, Again) as exc:
                # Deadlocks and serialization failures are OperationalErrors too: retrying
                # is also their cure.
                if attempt == 2:
                    raise StoreUnavailable(f"the database is unavailable: {exc}") from exc
                log.warning("database call failed, retrying: %s", exc)
                if conn.broken or conn.closed:
                    conn.close()
                    self._local.conn = None
        raise AssertionError("unreachable")

    def one(self, sql: Sql, args: Args) -> Row | None:
        return self._run(lambda conn: conn.execute(spelled(sql), args).fetchone())

    def all(self, sql: Sql, args: Args) -> list[Row]:
        return self._run(lambda conn: list(conn.execute(spelled(sql), args).fetchall()))

    def write(self, fn: Callable[[Tx], T]) -> T:
        return self._run(lambda conn: fn(PostgresTx(conn, self)))

    async def read(self, sql: Sql, args: Args) -> list[Row]:
        """Read on one of the event loop's own connections (a pool of ``READ_CONNECTIONS``).

        The blocking path, in a thread, stands in for them while they cannot serve: when all
        are busy for ``READ_WAIT``, or cut, or cannot be made (the database is down: the
        blocking path fails at once and reconnects at once, where the pool backs off between
        its attempts), and for ``READERS_PAUSE`` after each such failure; after they are
        closed; from another event loop than the one they were opened on.
        """
        readers = await self._loop_readers()
        if readers is not None:
            try:
                async with readers.connection(timeout=READ_WAIT) as conn:
                    cursor = await conn.execute(spelled(sql), args)
                    return list(await cursor.fetchall())
            except (
                psycopg.OperationalError,
                psycopg_pool.PoolTimeout,
                psycopg_pool.PoolClosed,
            ) as exc:
                self._readers_resume_at = time.monotonic() + READERS_PAUSE
                log.warning(
                    "the event loop's database connections cannot read (%s): reading in "
                    "threads for %g s",
                    str(exc).strip() or type(exc).__name__,
                    READERS_PAUSE,
                )
        return await asyncio.to_thread(self.all, sql, args)

    async def _loop_readers(self) -> psycopg_pool.AsyncConnectionPool[AsyncConnection] | None:
        """The loop's connections, opened on first use; None while they are not to be used."""
        if self._readers_closed or time.monotonic() < self._readers_resume_at:
            return None
        loop = asyncio.get_running_loop()
        if self._readers is None:
            # Made and opened without a pause in between: no other read can find it unopened.
            self._readers = psycopg_pool.AsyncConnectionPool(
                self.conninfo,
                kwargs=self._options(),
                configure=self._configure_reader,
                min_size=1,
                max_size=READ_CONNECTIONS,
                open=False,
                name=f"genq-reads-{self.schema}",
            )
            self._readers_loop = loop
            await self._readers.open()
        return self._readers if loop is self._readers_loop else None

    async def _configure_reader(self, conn: AsyncConnection) -> None:
        set_json_loads(orjson.loads, conn)
        set_json_dumps(_dumps, conn)
        await conn.execute(f'SET search_path TO "{self.schema}"')

    async def close_reads(self) -> None:
        """Close the loop's connections (from their loop): later reads run in threads."""
        self._readers_closed = True
        readers, self._readers = self._readers, None
        if readers is not None:
            await readers.close()

    def on_change(self, announce: Announce | None) -> None:
        # Announcements travel as NOTIFY, to every process: nothing to tell here.
        pass

    def _migrate(self, migrate: bool) -> None:
        def run(conn: Connection) -> None:
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


class PostgresStore(SQLStore):
    """The job store in a PostgreSQL schema (``?schema=NAME`` in the URL; default public)."""

    def __init__(self, url: str, *, migrate: bool = False) -> None:
        db = PostgresEngine(url, migrate=migrate)
        super().__init__(url, db)
        self.conninfo, self.schema = db.conninfo, db.schema
