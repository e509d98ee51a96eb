"""The reads a polling client makes, from the event loop, answer what their blocking twins
answer, on both engines; on PostgreSQL they survive their connections being cut."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from decimal import Decimal
from typing import Any, cast

import psycopg
import pytest

from genq.errors import StoreUnavailable
from genq.jobs import EventType
from genq.store import JobFilter, JobStore
from genq.store.core import SQLStore
from genq.store.postgres import READ_CONNECTIONS, PostgresEngine
from tests.pg import POSTGRES_URL
from tests.store.test_store_contract import LEASE, T0, new_job


def test_the_loops_reads_answer_as_the_blocking_ones(fresh_store: JobStore) -> None:
    """A job (the caller's, another account's, a missing one), a key (known, unknown), a
    job's events (all, after one) and listings and counts read the same either way."""
    store = fresh_store
    alice = store.ensure_account("alice", Decimal(5), T0)
    bob = store.ensure_account("bob", Decimal(5), T0)
    job = store.submit(new_job(alice)).job
    claim = store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    store.submit(new_job(alice, created_at=T0 + 1))
    store.add_event(claim, EventType.LOG, {"message": "half way"}, T0 + 2)
    digest = hashlib.sha256(b"gq_secret").hexdigest()
    store.create_key("key_1", alice.id, "ci", digest, "gq_sec", T0)
    first = store.events_after(job.id, 0)[0].id

    async def reads() -> None:
        try:
            await compare(T0 + 3)
        finally:
            await store.close_reads()

    async def compare(now: float) -> None:
        for account_id, job_id in ((alice.id, job.id), (bob.id, job.id), (alice.id, "job_x")):
            read = await store.read_job(account_id, job_id, now)
            assert read == store.get_job(account_id, job_id, now)
        assert await store.read_job(alice.id, job.id, now) is not None
        for key_hash in (digest, "0" * 64):
            assert await store.read_key(key_hash) == store.find_key(key_hash)
        assert await store.read_key(digest) is not None
        for after in (0, first):
            assert await store.read_events(job.id, after) == store.events_after(job.id, after)
        for where in (JobFilter(), JobFilter(statuses=("running",)), JobFilter(model="x")):
            for account_id in (alice.id, bob.id):
                listed = await store.read_jobs(account_id, now, limit=5, where=where)
                assert listed == store.list_jobs(account_id, now, limit=5, where=where)
                counted = await store.read_count(account_id, now, where)
                assert counted == store.count_jobs(account_id, now, where)
        assert await store.read_count(alice.id, now) == 2
        assert len(await store.read_jobs(alice.id, now, limit=1, offset=1)) == 1
        assert [e.type for e in await store.read_events(job.id, first)] == [
            EventType.STATUS,
            EventType.LOG,
        ]
        await store.close_reads()

    asyncio.run(reads())


def cut_own_sessions() -> int:
    """Terminate this process's database sessions, as a database restart would."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (f"genq-{os.getpid()}",),
        ).fetchall()
    return len(rows)


def held(store: JobStore, seconds: float, count: int = READ_CONNECTIONS) -> list[Any]:
    """Reads that hold ``count`` of the loop's connections for ``seconds``."""
    engine = cast(SQLStore, store)._db
    return [engine.read(f"SELECT pg_sleep({seconds})", {}) for _ in range(count)]


@pytest.mark.parametrize("fresh_store", ["postgres"], indirect=True)
def test_reads_from_the_loop_survive_cut_connections(fresh_store: JobStore) -> None:
    """After every session of the process is cut, the loop's among them, the next reads
    answer, one at a time and several at once."""
    store = fresh_store
    account = store.ensure_account("alice", Decimal(5), T0)
    job = store.submit(new_job(account)).job

    async def reads() -> int:
        try:
            await asyncio.gather(*held(store, 0.2))  # every connection of the loop's open
            cut = cut_own_sessions()
            for _ in range(3):
                answer = await store.read_job(account.id, job.id, T0 + 3)
                assert answer is not None
                assert answer.id == job.id
            many = [store.read_job(account.id, job.id, T0 + 3) for _ in range(8)]
            assert all(answer is not None for answer in await asyncio.gather(*many))
            return cut
        finally:
            await store.close_reads()

    assert asyncio.run(reads()) >= READ_CONNECTIONS


@pytest.mark.parametrize("fresh_store", ["postgres"], indirect=True)
def test_a_busy_loop_reads_in_a_thread_rather_than_wait(fresh_store: JobStore) -> None:
    """With every connection of the loop's held by a slow read, a poll is answered from a
    thread at once rather than refused or held up behind them."""
    store = fresh_store
    account = store.ensure_account("alice", Decimal(5), T0)
    job = store.submit(new_job(account)).job

    async def reads() -> float:
        try:
            slow = [asyncio.ensure_future(read) for read in held(store, 2)]
            await asyncio.sleep(0.3)  # all four are running
            started = time.monotonic()
            answer = await store.read_job(account.id, job.id, T0 + 3)
            took = time.monotonic() - started
            assert answer is not None
            assert answer.id == job.id
            await asyncio.gather(*slow)
            return took
        finally:
            await store.close_reads()

    assert asyncio.run(reads()) < 1.5


@pytest.mark.parametrize("fresh_store", ["postgres"], indirect=True)
def test_a_read_with_the_database_gone_is_refused_at_once(fresh_store: JobStore) -> None:
    """When no connection can be made, a read answers ``StoreUnavailable`` (a 503) as soon as
    a blocking read would, not after the pool's connection timeouts; and it reads again as
    soon as the database is back."""
    store = fresh_store
    account = store.ensure_account("alice", Decimal(5), T0)
    job = store.submit(new_job(account)).job
    engine = cast(PostgresEngine, cast(SQLStore, store)._db)
    reachable = engine.conninfo

    async def reads() -> float:
        try:
            assert await store.read_job(account.id, job.id, T0 + 3) is not None
            engine.conninfo = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens there
            cut_own_sessions()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.read_job(account.id, job.id, T0 + 3)
            took = time.monotonic() - started
            engine.conninfo = reachable
            assert await store.read_job(account.id, job.id, T0 + 3) is not None
            return took
        finally:
            await store.close_reads()

    assert asyncio.run(reads()) < 1.5
