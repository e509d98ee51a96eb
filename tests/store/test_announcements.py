"""What the store announces of its changes, the same on both engines: SQLite tells the store's
``on_change`` hook once a change is committed, PostgreSQL sends NOTIFY on the schema's channels
(which ``PostgresNotifier`` hears)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from genq.errors import OutOfCredits
from genq.jobs import ProgressRecord, Status
from genq.notify import Topic
from genq.store import JobStore
from genq.store.postgres import PostgresStore, channel
from genq.store.sqlite import SQLiteStore
from tests.store.test_store_contract import LEASE, MAX_ATTEMPTS, T0, new_job

Heard = Callable[[int], list[tuple[Topic, str]]]


@pytest.fixture
def announcing(fresh_store: JobStore) -> Iterator[tuple[JobStore, Heard]]:
    """A store, and what it announced since the last look (waiting for up to ``n`` of them)."""
    if not isinstance(fresh_store, PostgresStore):
        told: list[tuple[Topic, str]] = []
        fresh_store.on_change(lambda topic, payload: told.append((topic, payload)))

        def heard_hook(n: int) -> list[tuple[Topic, str]]:
            found = told[:]
            told.clear()
            return found

        yield fresh_store, heard_hook
        return
    topics = {channel(fresh_store.schema, topic): topic for topic in Topic}
    with psycopg.connect(fresh_store.conninfo, autocommit=True) as conn:
        for name in topics:
            conn.execute(f'LISTEN "{name}"')

        def heard_notify(n: int) -> list[tuple[Topic, str]]:
            notes = conn.notifies(timeout=5 if n else 0.2, stop_after=n or None)
            return [(topics[note.channel], note.payload) for note in notes]

        yield fresh_store, heard_notify


def test_every_change_of_a_job_is_announced(announcing: tuple[JobStore, Heard]) -> None:
    """A submit announces new work for its model; a claim, progress and the end announce the
    job; a cancel of a running job also asks it to stop; a write of a stale claim announces
    nothing."""
    store, heard = announcing
    account = store.ensure_account("alice", None, T0)
    job = store.submit(new_job(account, model="m")).job
    assert heard(1) == [(Topic.QUEUED, "m")]
    claim = store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    assert heard(1) == [(Topic.JOB, job.id)]
    assert store.set_progress(claim, ProgressRecord(1, 2), T0 + 2)
    assert heard(1) == [(Topic.JOB, job.id)]
    store.request_cancel(account.id, job.id, T0 + 3)
    assert heard(2) == [(Topic.CANCEL, job.id), (Topic.JOB, job.id)]
    ended = store.finish(claim, T0 + 4)
    assert ended is not None
    assert ended.status is Status.CANCELED
    assert heard(1) == [(Topic.JOB, job.id)]
    assert not store.set_progress(claim, ProgressRecord(2, 2), T0 + 5)
    assert heard(0) == []


def test_lost_and_retired_jobs_are_announced(announcing: tuple[JobStore, Heard]) -> None:
    """Jobs taken back from a lost worker announce themselves and, requeued, new work for
    their model; a running job past its retention is asked to stop, a deleted or retired job
    announces its end."""
    store, heard = announcing
    account = store.ensure_account("alice", None, T0)
    lost = store.submit(new_job(account, model="m")).job
    kept = store.submit(new_job(account, model="m2", expires_at=T0 + 50)).job
    heard(2)
    store.claim("w1", ["m", "m2"], T0 + 1, LEASE, limit=2)
    heard(2)
    assert store.release_worker("w1", T0 + 2, MAX_ATTEMPTS).requeued == (lost.id, kept.id)
    assert sorted(heard(4)) == sorted(
        [
            (Topic.JOB, lost.id),
            (Topic.JOB, kept.id),
            (Topic.QUEUED, "m"),
            (Topic.QUEUED, "m2"),
        ]
    )
    store.claim("w2", ["m2"], T0 + 3, LEASE)
    heard(1)
    assert store.expire(T0 + 60).stopping == (kept.id,)
    assert heard(1) == [(Topic.CANCEL, kept.id)]
    assert store.delete_job(account.id, lost.id, T0 + 60) is not None
    assert heard(1) == [(Topic.JOB, lost.id)]


def test_sqlite_announces_only_what_it_committed(tmp_path: Path) -> None:
    """SQLite tells the hook of a change once it is committed (another connection already
    sees it), and never of a change that was rolled back."""
    store = SQLiteStore(tmp_path / "genq.db")
    other = SQLiteStore(tmp_path / "genq.db")
    seen: list[tuple[Topic, str, Status | None]] = []

    def announce(topic: Topic, payload: str) -> None:
        job = other.get_job_any_account(job_id, T0) if topic is Topic.JOB else None
        seen.append((topic, payload, None if job is None else job.status))

    store.on_change(announce)
    try:
        poor = store.ensure_account("poor", Decimal(0), T0)
        with pytest.raises(OutOfCredits):
            store.submit(new_job(poor, cost=1))
        assert seen == []
        job_id = store.submit(new_job(store.ensure_account("alice", None, T0))).job.id
        store.claim("w1", ["m"], T0 + 1, LEASE)
        assert seen == [(Topic.QUEUED, "m", None), (Topic.JOB, job_id, Status.RUNNING)]
    finally:
        store.close()
        other.close()
