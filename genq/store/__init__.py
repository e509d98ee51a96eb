"""Job stores, chosen by URL."""

from __future__ import annotations

from genq.errors import ConfigError
from genq.store.base import JobFilter, JobStore, NewJob, Released, Retired, Submitted

__all__ = [
    "JobFilter",
    "JobStore",
    "NewJob",
    "Released",
    "Retired",
    "Submitted",
    "open_store",
]


def open_store(url: str, *, migrate: bool = False) -> JobStore:
    """Open the store a URL names: ``sqlite:///path/to/genq.db`` or
    ``postgresql://user:password@host:5432/dbname?schema=NAME``.

    An empty database is set up; with ``migrate`` an older schema is brought up to date.
    """
    if url.startswith("sqlite:///"):
        from genq.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///") or ":memory:", migrate=migrate)
    if url.startswith(("postgresql://", "postgres://")):
        from genq.store.postgres import PostgresStore

        return PostgresStore(url, migrate=migrate)
    raise ConfigError(
        f"unsupported database URL {url!r}: expected sqlite:///PATH or postgresql://..."
    )
