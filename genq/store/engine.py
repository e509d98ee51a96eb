"""What the one store implementation (``genq.store.core``) needs of a database engine: the
adapter each engine module (``genq.store.sqlite``, ``genq.store.postgres``) implements."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from genq.notify.base import Topic
from genq.store.changes import Change, Sql
from genq.store.rows import Decode, Row

T = TypeVar("T")
Args = Mapping[str, Any]
#: Told of each announcement ``(topic, payload)`` once its change is committed.
Announce = Callable[[Topic, str], None]


class Again(Exception):
    """A call met a concurrent change that a second try sees whole: run it once more."""


class Tx(abc.ABC):
    """One connection's statements, within ``Engine.write``."""

    def __init__(self, conn: Any, spell: Callable[[Sql], str]) -> None:
        #: A DB-API connection (``sqlite3``'s, psycopg's) whose rows are read by column name.
        self.conn = conn
        self._spell = spell

    def one(self, sql: Sql, args: Args) -> Row | None:
        row: Row | None = self.conn.execute(self._spell(sql), args).fetchone()
        return row

    def all(self, sql: Sql, args: Args) -> list[Row]:
        rows: list[Row] = self.conn.execute(self._spell(sql), args).fetchall()
        return rows

    def run(self, sql: Sql, args: Args) -> None:
        """Run a statement whose rows nobody reads."""
        self.conn.execute(self._spell(sql), args)

    def many(self, sql: Sql, args: Sequence[Args]) -> None:
        """Run a statement once for each set of arguments."""
        with contextlib.closing(self.conn.cursor()) as cursor:
            cursor.executemany(self._spell(sql), args)

    @abc.abstractmethod
    def atomic(self) -> contextlib.AbstractContextManager[object]:
        """Make the statements run within this block one transaction."""

    @abc.abstractmethod
    def change(
        self, change: Change, args: Args, now: float, event: tuple[str, Any] | None
    ) -> list[Row]:
        """Run ``change`` with its events (dated ``now``; ``event``: the type and encoded data
        of a ``Record.GIVEN`` one) and its announcements, atomically. Called only by
        ``SQLStore.change``."""


class Engine(abc.ABC):
    """A database engine's connections, transactions and spelling."""

    #: True when calls wait on the network (see ``JobStore.blocking``).
    blocking: bool
    #: True when a write transaction locks the whole database: work is looked for with a
    #: read first, so that idle workers do not queue up for the lock.
    exclusive_writes: bool
    #: Turns a stored JSON (or array) column into a value.
    decode: Decode
    #: The ``(from, to)`` schema versions when opening the database migrated it.
    migrated: tuple[int, int] | None = None

    @abc.abstractmethod
    def json(self, value: Any) -> Any:
        """A value as the parameter of a JSON column."""

    @abc.abstractmethod
    def array(self, values: Sequence[str]) -> Any:
        """Strings as the parameter of an array (``workers.models``, ``= ANY(:ids)``)."""

    @abc.abstractmethod
    def one(self, sql: Sql, args: Args) -> Row | None:
        """Read one row, outside any write."""

    @abc.abstractmethod
    def all(self, sql: Sql, args: Args) -> list[Row]:
        """Read rows, outside any write."""

    async def read(self, sql: Sql, args: Args) -> list[Row]:
        """Read rows from the event loop, outside any write. An engine whose calls wait on the
        network reads on connections of the loop's own; this one reads as ``all`` does."""
        return self.all(sql, args)

    async def close_reads(self) -> None:  # noqa: B027 - optional hook
        """Release what ``read`` opened (from the loop it ran on)."""

    @abc.abstractmethod
    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` on this thread's connection and return what it returns.

        SQLite runs all of it as one transaction; PostgreSQL commits each statement by itself
        unless it runs within ``tx.atomic()``. On a broken connection, or when ``fn`` raises
        ``Again``, ``fn`` runs once more: it must be safe to repeat.
        """

    @abc.abstractmethod
    def on_change(self, announce: Announce | None) -> None:
        """Install the hook that is told of announcements this engine cannot carry itself."""

    @abc.abstractmethod
    def close(self) -> None: ...
