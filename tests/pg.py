"""The PostgreSQL server the tests use, and one schema per test (or test server) on it.

The server is the one on this machine (``GENQ_TEST_POSTGRES`` names another). Each schema's
name is unique to this test run, so that runs side by side never meet; schemas are dropped
when their test ends.
"""

from __future__ import annotations

import os
import secrets

import psycopg

POSTGRES_URL = os.environ.get("GENQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RUN = secrets.token_hex(4)


def new_schema(label: str = "") -> str:
    return f"t{RUN}_{label[:12]}{secrets.token_hex(4)}".lower()


def store_url(schema: str) -> str:
    return f"{POSTGRES_URL}?schema={schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        # Connections a test left behind (a killed process's) would block the drop.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()"
            " AND application_name LIKE 'genq-%%' AND state = 'idle in transaction'"
        )
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
