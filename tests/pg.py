"""The PostgreSQL server the tests use, and one schema per test (or test server) on it.

The server is the one on this machine (``GENQ_TEST_POSTGRES`` names another). Each schema's
name is unique to this test run, so that runs side by side never meet; schemas are dropped
when their test ends, or emptied and kept for the next test (``empty_schema``).
"""

from __future__ import annotations

import os
import secrets

import psycopg

POSTGRES_URL = os.environ.get("GENQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RUN = secrets.token_hex(4)

#: Schemas set up by the store and emptied since, for ``empty_schema`` to hand out again.
_emptied: list[str] = []


def new_schema(label: str = "") -> str:
    return f"t{RUN}_{label[:12]}{secrets.token_hex(4)}".lower()


def store_url(schema: str) -> str:
    return f"{POSTGRES_URL}?schema={schema}"


def _end_leftover_sessions(conn: psycopg.Connection) -> None:
    # Connections a test left behind (a killed process's) would block the drop.
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE pid <> pg_backend_pid() AND datname = current_database()"
        " AND application_name LIKE 'genq-%%' AND state = 'idle in transaction'"
    )


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        _end_leftover_sessions(conn)
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def empty_schema() -> str:
    """A schema for a store: one that ``hand_back`` emptied (its tables as the store's
    migrations made them, without a row), else a new one. Setting up a schema takes a store
    a third of a second; emptying one takes a few milliseconds."""
    return _emptied.pop() if _emptied else new_schema("empty")


def hand_back(schema: str) -> None:
    """Empty a schema from ``empty_schema`` whose stores are closed, for the next test: every
    table but the schema's version loses its rows. One without that version (no store set it
    up) is dropped instead."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        _end_leftover_sessions(conn)
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            ).fetchall()
        ]
        if "genq_schema" not in tables:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            return
        emptied = ", ".join(f'"{schema}"."{t}"' for t in tables if t != "genq_schema")
        if emptied:
            conn.execute(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE")
    _emptied.append(schema)


def drop_emptied() -> None:
    """Drop the schemas kept for reuse (at the end of the run)."""
    while _emptied:
        drop_schema(_emptied.pop())
