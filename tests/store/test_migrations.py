"""Schema versions: an empty database is set up, an older one is refused until ``genq migrate``
brings it up to date (keeping its data), a newer one is refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from genq.errors import ConfigError, OutOfCredits
from genq.store import JobFilter, NewJob, open_store
from genq.store.schema import SCHEMA_VERSION, migrations
from tests.pg import POSTGRES_URL, drop_schema, new_schema, store_url

T0 = 1_700_000_000.0
DAY = 86_400.0


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

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> None:
        """Run one statement (``?`` placeholders) outside genq, as an older genq would have."""
        conn = sqlite3.connect(self.path)
        try:
            conn.execute(sql, args)
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

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> None:
        """Run one statement (``?`` placeholders) outside genq, as an older genq would have."""
        with self._connect() as conn:
            conn.execute(sql.replace("?", "%s").encode(), args)

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
    store.ensure_account("alice", Decimal(2), T0)
    store.close()
    again = open_store(database.url)
    try:
        assert again.migrated is None
        assert again.ensure_account("alice", Decimal(9), T0).credits == 2.0
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


def next_job(job_id: str, estimate: Decimal) -> NewJob:
    return NewJob(
        id=job_id,
        account_id="acct_rich",
        model="noop",
        input={},
        priority=0,
        metadata={},
        cost_estimate=estimate,
        created_at=T0,
        expires_at=T0 + 100,
    )


def test_version_4_float_money_becomes_exact(database: Database) -> None:
    """Migrating a version-4 database turns its floating-point balances and costs into exact
    amounts, each rounded to the nearest micro-credit (the float dust of a spent balance
    becomes 0)."""
    database.make_at(4)
    spent = 0.001
    for _ in range(10):
        spent -= 0.0001  # as version 4 charged: it leaves -1.9e-19
    accounts = {
        "spent": spent,
        "rich": 0.1 + 0.2,
        "unlimited": None,
        "huge": 1e15,
        "infinite": float("inf"),
    }
    for name, credits in accounts.items():
        database.execute(
            "INSERT INTO accounts (id, name, credits, created_at) VALUES (?, ?, ?, ?)",
            (f"acct_{name}", name, credits, T0),
        )
    jobs = [
        ("done", "succeeded", 0.0001, 0.00010000000000000002),
        ("queued", "queued", 0.0125, None),
    ]
    for job in jobs:
        database.execute(
            "INSERT INTO jobs (id, account_id, model, input, status, cost_estimate, cost_actual,"
            " created_at, expires_at) VALUES (?, 'acct_rich', 'noop', '{}', ?, ?, ?, ?, ?)",
            (*job, T0, T0 + DAY),
        )
    store = open_store(database.url, migrate=True)
    try:
        assert store.migrated == (4, SCHEMA_VERSION)
        balances = {name: store.get_account(f"acct_{name}") for name in accounts}
        assert {name: a.credits for name, a in balances.items() if a} == {
            "spent": Decimal(0),
            "rich": Decimal("0.3"),
            "unlimited": None,
            # Beyond what an integer column holds: the most it can, on both engines.
            "huge": Decimal("9223372036854.775807"),
            "infinite": Decimal("9223372036854.775807"),
        }
        done = store.get_job("acct_rich", "done", T0)
        queued = store.get_job("acct_rich", "queued", T0)
        assert done is not None
        assert queued is not None
        assert (done.cost_estimate, done.cost_actual) == (Decimal("0.0001"), Decimal("0.0001"))
        assert (queued.cost_estimate, queued.cost_actual) == (Decimal("0.0125"), None)
        # The queued job holds exactly its estimate: 0.2875 of the 0.3 is left, not a bit more.
        assert store.submit(next_job("fits", Decimal("0.2875"))).created
        with pytest.raises(OutOfCredits):
            store.submit(next_job("over", Decimal("0.000001")))
    finally:
        store.close()


def test_version_5_jobs_are_listed_by_status_after_migrating(database: Database) -> None:
    """Migrating a version-5 database with jobs rebuilds its job indexes in place: its jobs of
    one status, and its unfinished jobs, are listed newest first as before."""
    database.make_at(5)
    database.execute(
        "INSERT INTO accounts (id, name, credits_micros, created_at) VALUES (?, ?, NULL, ?)",
        ("acct_a", "a", T0),
    )
    statuses = ["queued", "failed", "running", "succeeded", "failed", "queued"]
    for n, status in enumerate(statuses):
        database.execute(
            "INSERT INTO jobs (id, account_id, model, input, status, created_at, expires_at)"
            " VALUES (?, 'acct_a', 'noop', '{}', ?, ?, ?)",
            (f"job_{n}", status, T0 + n, T0 + DAY),
        )
    store = open_store(database.url, migrate=True)
    try:
        assert store.migrated == (5, SCHEMA_VERSION)

        def ids(*wanted: str) -> list[str]:
            where = JobFilter(statuses=wanted)
            jobs = store.list_jobs("acct_a", T0, limit=10, where=where)
            return [job.id for _, job in jobs]

        assert ids("failed") == ["job_4", "job_1"]
        assert ids("queued", "running") == ["job_5", "job_2", "job_0"]
        assert store.count_jobs("acct_a", T0, JobFilter(statuses=("queued", "running"))) == 3
    finally:
        store.close()


@pytest.mark.parametrize(
    ("key_name", "default_is_admin"), [("created on first start", True), (None, False)]
)
def test_version_6_first_start_account_becomes_an_admin_after_migrating(
    database: Database, key_name: str | None, default_is_admin: bool
) -> None:
    """Migrating a version-6 database makes its first start's account (the one holding the key
    the first start made) an admin account, and no other: not an account merely named
    ``default``. It keeps the keys, with no last use yet, and adds sign-in tokens."""
    database.make_at(6)
    for name in ("default", "acme"):
        database.execute(
            "INSERT INTO accounts (id, name, credits_micros, created_at) VALUES (?, ?, NULL, ?)",
            (f"acct_{name}", name, T0),
        )
    database.execute(
        "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at)"
        " VALUES ('key_1', 'acct_default', ?, 'h1', 'gq_1', ?)",
        (key_name, T0),
    )
    store = open_store(database.url, migrate=True)
    try:
        assert store.migrated == (6, SCHEMA_VERSION)
        admins = {s.account.name: s.account.admin for s in store.list_accounts()}
        assert admins == {"acme": False, "default": default_is_admin}
        key = store.find_key("h1")
        assert key is not None
        assert key.last_used_at is None
        store.create_sign_in("t1", "acct_acme", T0, T0 + 600)
        assert store.take_sign_in("t1", T0 + 1) == "acct_acme"
    finally:
        store.close()
