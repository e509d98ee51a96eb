"""The embedded job store: one SQLite file in WAL mode, shared by the API and worker processes.

Every write is one transaction that starts with ``BEGIN IMMEDIATE``, so that two processes never
both read-then-write the same rows: it holds the whole database, which is why the statements'
row locks (``FOR UPDATE``) are dropped here. SQLite cannot tell other processes of a change:
the store tells its ``on_change`` hook once the change is committed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from genq.errors import StoreUnavailable
from genq.notify.base import Topic
from genq.store import queries as q
from genq.store.changes import (
    Change,
    PerEngine,
    Record,
    Sql,
    announcements,
    due_events,
    own_webhook_wants,
)
from genq.store.core import SQLStore
from genq.store.engine import Again, Announce, Args, Engine, T, Tx
from genq.store.rows import Row, delivery_columns, event_columns, status_event_data
from genq.store.schema import SCHEMA_VERSION, check_version, migrations

log = logging.getLogger("genq.store.sqlite")

#: How long a call waits for the write lock before it fails.
BUSY_TIMEOUT = 10.0

_ROW_LOCK = re.compile(r" FOR UPDATE( SKIP LOCKED)?")
_ANY = re.compile(r"= ANY\((:\w+)\)")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@functools.lru_cache(maxsize=512)
def spelled(sql: Sql) -> str:
    """A statement in SQLite's spelling: without row locks, and with ``= ANY(:array)`` as
    membership in the JSON array that the parameter holds (see ``SQLiteEngine.array``)."""
    if isinstance(sql, PerEngine):
        sql = sql.sqlite
    return _ANY.sub(r"IN (SELECT value FROM json_each(\1))", _ROW_LOCK.sub("", sql))


def _execute_when_free(conn: sqlite3.Connection, sql: str, args: Args | Sequence[Any] = ()) -> Any:
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


class SQLiteTx(Tx):
    def __init__(self, conn: sqlite3.Connection, announcing: bool) -> None:
        super().__init__(conn, spelled)
        self._announcing = announcing
        #: What the changes made so far announce, once the transaction is committed.
        self.announced: list[tuple[Topic, str]] = []

    def atomic(self) -> contextlib.nullcontext[None]:
        # Every write is one transaction already.
        return contextlib.nullcontext()

    def change(
        self, change: Change, args: Args, now: float, event: tuple[str, Any] | None
    ) -> list[Row]:
        rows: list[Row] = self.conn.execute(spelled(change.sql), args).fetchall()
        events = []
        if change.record is Record.STATUS:
            events = [(r["id"], "status", _dumps(status_event_data(r))) for r in rows]
        elif change.record is Record.GIVEN:
            assert event is not None, "this change records the event its caller gives"
            events = [(r["id"], *event) for r in rows]
        if events:
            self.conn.executemany(spelled(q.INSERT_EVENT), [event_columns(*e, now) for e in events])
        given = None if event is None else event[0]
        own, endpoints = [], []
        for r in rows:
            for order, webhook_event in enumerate(
                due_events(change.record, r, given, orjson.loads), 1
            ):
                at = now + order * 1e-6
                if own_webhook_wants(r, webhook_event, orjson.loads):
                    own.append(delivery_columns(r, webhook_event, at))
                endpoints.append(
                    {
                        "job_id": r["id"],
                        "account_id": r["account_id"],
                        "model": r["model"],
                        "event": webhook_event.value,
                        "at": at,
                    }
                )
        if own:
            self.conn.executemany(spelled(q.INSERT_DELIVERY), own)
        if endpoints:
            self.conn.executemany(spelled(q.INSERT_ENDPOINT_DELIVERIES), endpoints)
        if self._announcing:
            self.announced.extend(announcements(rows, change.announce))
        return rows


class SQLiteEngine(Engine):
    blocking = False
    exclusive_writes = True
    decode = staticmethod(orjson.loads)

    def __init__(self, path: str, *, migrate: bool) -> None:
        self.path = path
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection per thread: sqlite3 connections must not be shared across threads.
        self._local = threading.local()
        self._announce: Announce | None = None
        try:
            self._migrate(migrate)
        except BaseException:
            self.close()
            raise

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

    json = staticmethod(_dumps)

    def array(self, values: Sequence[str]) -> str:
        return _dumps(list(values))

    # In WAL mode readers do not wait for writers; a reader can only meet a busy database
    # while another connection recovers the log after a crash.
    def one(self, sql: Sql, args: Args) -> Row | None:
        row: Row | None = _execute_when_free(self._conn, spelled(sql), args).fetchone()
        return row

    def all(self, sql: Sql, args: Args) -> list[Row]:
        rows: list[Row] = _execute_when_free(self._conn, spelled(sql), args).fetchall()
        return rows

    def _transaction(self, fn: Callable[[SQLiteTx], T]) -> T:
        conn = self._conn
        _execute_when_free(conn, "BEGIN IMMEDIATE")
        tx = SQLiteTx(conn, self._announce is not None)
        try:
            result = fn(tx)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if tx.announced:
            self._tell(tx.announced)
        return result

    def write(self, fn: Callable[[Tx], T]) -> T:
        try:
            return self._transaction(fn)
        except Again:
            pass
        try:
            return self._transaction(fn)
        except Again as exc:
            raise StoreUnavailable(f"the database is unavailable: {exc}") from exc

    def on_change(self, announce: Announce | None) -> None:
        self._announce = announce

    def _tell(self, announced: list[tuple[Topic, str]]) -> None:
        announce = self._announce
        if announce is None:
            return
        # Once per topic and payload, as PostgreSQL delivers a transaction's notifications.
        for topic, payload in dict.fromkeys(announced):
            try:
                announce(topic, payload)
            except Exception:
                # The change is made: a lost announcement only delays those who poll.
                log.exception("announcing a change on %s failed", topic.value)

    def _migrate(self, migrate: bool) -> None:
        self._transaction(lambda tx: self._upgrade(tx.conn, migrate))

    def _upgrade(self, conn: sqlite3.Connection, migrate: bool) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        # A new, empty database is set up at once; an existing one only by `genq migrate`.
        if (not migrate and version != 0) or version > SCHEMA_VERSION:
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


class SQLiteStore(SQLStore):
    """The job store in one SQLite file (``:memory:``: in memory, for this thread only)."""

    def __init__(self, path: Path | str, *, migrate: bool = False) -> None:
        self.path = str(path)
        super().__init__(f"sqlite:///{self.path}", SQLiteEngine(self.path, migrate=migrate))
