"""The reads a polling client makes, from the event loop, answer what their blocking twins
answer, on both engines; on PostgreSQL they survive their connections being cut."""

from __future__ import annotations

import asyncio
import hashlib
import os
from decimal import Decimal
from typing import cast

import psycopg
import pytest

from genq.jobs import EventType
from genq.store import JobFilter, JobStore
from genq.store.core import SQLStore
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
        now = T0 + 3
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


@pytest.mark.parametrize("fresh_store", ["postgres"], indirect=True)
def test_reads_from_the_loop_survive_cut_connections(fresh_store: JobStore) -> None:
    """After every session of the process is cut, the loop's among them, the next reads
    answer: a failure is retried once the connections that broke are dropped."""
    store = fresh_store
    account = store.ensure_account("alice", Decimal(5), T0)
    job = store.submit(new_job(account)).job

    async def reads() -> int:
        now = T0 + 3
        # Reads held at once open every connection of the loop's.
        engine = cast(SQLStore, store)._db
        await asyncio.gather(*(engine.read("SELECT pg_sleep(0.2)", {}) for _ in range(4)))
        cut = cut_own_sessions()
        answers = await asyncio.gather(*(store.read_job(account.id, job.id, now) for _ in range(8)))
        assert all(answer is not None and answer.id == job.id for answer in answers)
        await store.close_reads()
        return cut

    assert asyncio.run(reads()) >= 4
