"""A fresh store on each engine, for the tests of this folder that need no second handle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from genq.store import JobStore
from genq.store.postgres import PostgresStore
from genq.store.sqlite import SQLiteStore
from tests.pg import empty_schema, hand_back, store_url


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        store: JobStore = SQLiteStore(tmp_path / "genq.db")
        yield store
        store.close()
        return
    schema = empty_schema()
    store = PostgresStore(store_url(schema))
    yield store
    store.close()
    hand_back(schema)
