"""Claims on PostgreSQL while another claim is in flight: a claim locks only the jobs it takes,
so a worker claiming at the same moment finds every other queued job it may run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from genq.jobs import Claim
from genq.store import NewJob
from genq.store.postgres import PostgresStore
from tests.pg import POSTGRES_URL, drop_schema, new_schema, store_url

T0 = 1_700_000_000.0
LEASE = 30.0
HOLD = 7_345_001

# A claim by the worker "slow" stops inside its statement, after its pick, until the test lets
# it go: the locks its pick took are held meanwhile, as they are for the length of any claim.
_PAUSE_SLOW_CLAIMS = (
    "CREATE FUNCTION pause_slow_claims() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    f" IF NEW.worker_id = 'slow' THEN PERFORM pg_advisory_xact_lock({HOLD}); END IF;"
    " RETURN NEW; END $$",
    "CREATE TRIGGER pause_slow_claims BEFORE UPDATE ON jobs"
    " FOR EACH ROW EXECUTE FUNCTION pause_slow_claims()",
)


@pytest.fixture
def schema() -> Iterator[str]:
    name = new_schema("claims")
    yield name
    drop_schema(name)


def _submit(store: PostgresStore, account_id: str, job_id: str, model: str, priority: int) -> None:
    new = NewJob(
        id=job_id,
        account_id=account_id,
        model=model,
        input={},
        priority=priority,
        metadata={},
        cost_estimate=Decimal(0),
        created_at=T0,
        expires_at=T0 + 3600,
    )
    assert store.submit(new).created


def _wait_until_paused(conn: psycopg.Connection) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            (HOLD,),
        ).fetchone()
        if row is not None:
            return
        time.sleep(0.01)
    raise AssertionError("the slow claim never reached its pause")


def test_a_claim_in_flight_leaves_the_jobs_it_does_not_take_to_others(schema: str) -> None:
    """While a worker serving models a and b takes a's job, a worker serving b alone claims b's
    job: the first worker's claim does not hold on to a job it leaves."""
    slow, fast = PostgresStore(store_url(schema)), PostgresStore(store_url(schema))
    try:
        account = slow.ensure_account("alice", None, T0)
        _submit(slow, account.id, "job_a", "a", priority=9)
        _submit(slow, account.id, "job_b", "b", priority=0)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            for statement in _PAUSE_SLOW_CLAIMS:
                conn.execute(statement.encode())
            taken: list[Claim] = []
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (HOLD,))
                thread = threading.Thread(
                    target=lambda: taken.extend(slow.claim("slow", ["a", "b"], T0, LEASE))
                )
                thread.start()
                _wait_until_paused(conn)
                claimed = fast.claim("fast", ["b"], T0, LEASE)
            thread.join(10)
        assert [c.job.id for c in claimed] == ["job_b"]
        assert [c.job.id for c in taken] == ["job_a"]
    finally:
        slow.close()
        fast.close()
