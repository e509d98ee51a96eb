"""Schema versions: an empty database is set up, an older one is refused until ``genq migrate``
brings it up to date (keeping its data), a newer one is refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from genq.errors import ConfigError
from genq.store import open_store
from genq.store.schema import SCHEMA_VERSION, migrations
from tests.pg import POSTGRES_URL, drop_schema, new_schema, store_url

T0 = 1_700_000_000.0


class SQLiteDatabase:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "genq.db"
        self.url = f"sqlite:///{self.path}"

    def make_at(self, version: int) -> None:
        """A database as an older (or, past our own, newer) genq left it."""
        conn = sqlite3.connect(self.path)
        try:
            for number, statements in migrations("sqlite"):
                if number <= version:
                    for statement in statements:
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.commit()
        finally:
            conn.close()

    def version(self) -> int:
        conn = sqlite3.connect(self.path)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()


class PostgresDatabase:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.url = store_url(schema)

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(POSTGRES_URL, autocommit=True)
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def make_at(self, version: int) -> None:
        with self._connect() as conn:
            for number, statements in migrations("postgres"):
                if number <= version:
                    for statement in statements:
                        conn.execute(statement.encode())
            conn.execute("CREATE TABLE genq_schema (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO genq_schema VALUES (%s)", (version,))

    def version(self) -> int:
        with self._connect() as conn:
            row = conn.execute("SELECT version FROM genq_schema").fetchone()
            assert row is not None
            return int(row[0])


Database = SQLiteDatabase | PostgresDatabase


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield SQLiteDatabase(tmp_path)
        return
    schema = new_schema("mig")
    yield PostgresDatabase(schema)
    drop_schema(schema)


def test_an_empty_database_is_set_up_at_the_current_version(database: Database) -> None:
    """Opening an empty database creates the schema; opening it again changes nothing."""
    store = open_store(database.url)
    assert store.migrated == (0, SCHEMA_VERSION)
    store.ensure_account("alice", 2.0, T0)
    store.close()
    again = open_store(database.url)
    try:
        assert again.migrated is None
        assert again.ensure_account("alice", 9.0, T0).credits == 2.0
    finally:
        again.close()
    assert database.version() == SCHEMA_VERSION


def test_an_older_schema_is_refused_until_migrated(database: Database) -> None:
    """A version-1 database is refused with a message naming `genq migrate`; migrating it
    keeps its data and adds what is new (the workers table)."""
    database.make_at(1)
    with pytest.raises(ConfigError, match=r"older than this genq's .*genq migrate"):
        open_store(database.url)
    assert database.version() == 1
    # Data written by the older genq survives the migration.
    database_v1 = open_store(database.url, migrate=True)
    try:
        assert database_v1.migrated == (1, SCHEMA_VERSION)
        account = database_v1.ensure_account("alice", None, T0)
        database_v1.register_worker("w1", ["noop"], "host", 1, T0)
        assert database_v1.served_models(T0 - 1) == {"noop"}
        assert database_v1.get_account(account.id) == account
    finally:
        database_v1.close()
    assert database.version() == SCHEMA_VERSION
    open_store(database.url).close()


def test_a_newer_schema_is_refused_even_by_migrate(database: Database) -> None:
    """A database from a newer genq is never touched: upgrade genq instead."""
    database.make_at(SCHEMA_VERSION + 1)
    for migrate in (False, True):
        with pytest.raises(ConfigError, match=r"newer than this genq's .*upgrade genq"):
            open_store(database.url, migrate=migrate)
    assert database.version() == SCHEMA_VERSION + 1


def test_genq_migrate_command(database: Database, tmp_path: Path) -> None:
    """`genq migrate --db URL` upgrades an older database and says from which version to
    which; a second run says it is up to date."""
    database.make_at(1)

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "genq", "migrate", "--db", database.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )

    first = migrate()
    assert first.returncode == 0, first.stderr
    assert f"from version 1 to {SCHEMA_VERSION}" in first.stdout
    second = migrate()
    assert second.returncode == 0, second.stderr
    assert f"already at version {SCHEMA_VERSION}" in second.stdout
    assert database.version() == SCHEMA_VERSION
