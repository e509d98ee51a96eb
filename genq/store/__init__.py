"""Job stores, chosen by URL."""

from __future__ import annotations

from genq.errors import ConfigError
from genq.store.base import JobStore, NewJob, Released, Retired, Submitted

__all__ = ["JobStore", "NewJob", "Released", "Retired", "Submitted", "open_store"]


def open_store(url: str) -> JobStore:
    """Open the store a URL names: ``sqlite:///path/to/genq.db``."""
    if url.startswith("sqlite:///"):
        from genq.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///") or ":memory:")
    raise ConfigError(f"unsupported database URL {url!r}: expected sqlite:///PATH")
