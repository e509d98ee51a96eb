"""Job stores, chosen by URL."""

from __future__ import annotations

from genq.errors import ConfigError
from genq.store.base import (
    JobFilter,
    JobStore,
    NewJob,
    Released,
    Retired,
    Scheduling,
    Submitted,
)

__all__ = [
    "JobFilter",
    "JobStore",
    "NewJob",
    "Released",
    "Retired",
    "Scheduling",
    "Submitted",
    "engine_of",
    "open_store",
]


def engine_of(url: str) -> str:
    """The engine a database URL names: ``sqlite`` (``sqlite:///path/to/genq.db``) or
    ``postgres`` (``postgresql://user:password@host:5432/dbname?schema=NAME``)."""
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    raise ConfigError(
        f"unsupported database URL {url!r}: expected sqlite:///PATH or postgresql://..."
    )


def open_store(url: str, *, migrate: bool = False) -> JobStore:
    """Open the store a URL names (see ``engine_of``).

    An empty database is set up; with ``migrate`` an older schema is brought up to date.
    """
    if engine_of(url) == "sqlite":
        from genq.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///") or ":memory:", migrate=migrate)
    from genq.store.postgres import PostgresStore

    return PostgresStore(url, migrate=migrate)
