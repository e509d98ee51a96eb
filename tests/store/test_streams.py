"""The store's streamed pieces, taken once each (``JobStore.take_stream``), and the reads and
changes the streams' surfaces need: cancelling only a queued job, counting retried jobs, and
the workers that serve a model and are busy. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from genq.jobs import Account, EventType, Status
from genq.store import JobFilter, JobStore, open_store
from tests.store.test_store_contract import LEASE, T0, claim_one, get, submit

NOW = T0 + 100


@pytest.fixture
def store(fresh_store: JobStore) -> JobStore:
    return fresh_store


@pytest.fixture
def account(store: JobStore) -> Account:
    return store.ensure_account("alice", None, T0)


@pytest.fixture
def other(store: JobStore) -> Account:
    return store.ensure_account("bob", None, T0)


def take(store: JobStore, account: Account, job_id: str, **kwargs: Any) -> list[Any]:
    """The data of the pieces one take hands out."""
    kwargs.setdefault("limit", 100)
    kwargs.setdefault("max_bytes", 1 << 20)
    taken = store.take_stream(account.id, job_id, NOW, **kwargs)
    assert taken is not None
    return [event.data for event in taken]


def test_each_piece_is_taken_once_in_order(store: JobStore, account: Account) -> None:
    """Text and partial events come out in the order written, each once; other events
    (progress, logs, status) are not pieces; a take with nothing new hands out nothing."""
    job = submit(store, account)
    claim = claim_one(store)
    assert take(store, account, job.id) == []
    store.add_event(claim, EventType.TEXT, {"delta": "Hel"}, NOW)
    store.add_event(claim, EventType.LOG, {"message": "half way"}, NOW)
    store.add_event(claim, EventType.PARTIAL, {"value": {"n": 1}}, NOW)
    assert take(store, account, job.id) == [{"delta": "Hel"}, {"value": {"n": 1}}]
    assert take(store, account, job.id) == []
    store.add_event(claim, EventType.TEXT, {"delta": "lo"}, NOW)
    store.finish(claim, NOW)
    assert take(store, account, job.id) == [{"delta": "lo"}]
    assert take(store, account, job.id) == []


def test_a_take_is_bounded_by_count_and_bytes(store: JobStore, account: Account) -> None:
    """A take hands out at most ``limit`` pieces and stops before the piece that would pass
    ``max_bytes`` (but always hands out one); the rest come with the next takes."""
    job = submit(store, account)
    claim = claim_one(store)
    for n in range(5):
        store.add_event(claim, EventType.PARTIAL, {"value": "x" * 100 * (n + 1)}, NOW)
    assert len(take(store, account, job.id, limit=2)) == 2
    [third] = take(store, account, job.id, max_bytes=10)
    assert len(third["value"]) == 300
    rest = take(store, account, job.id, max_bytes=950)
    assert [len(piece["value"]) for piece in rest] == [400, 500]
    assert take(store, account, job.id) == []


def test_takes_by_several_handles_share_one_position(store: JobStore, account: Account) -> None:
    """Two handles on one database (two API processes) taking at once hand out every piece
    exactly once between them."""
    first = store
    second = open_store(store.url)
    job = submit(first, account)
    claim = claim_one(first)
    for n in range(200):
        first.add_event(claim, EventType.TEXT, {"delta": str(n)}, NOW)
    got: list[list[Any]] = [[], []]

    def drain(store: JobStore, into: list[Any]) -> None:
        while pieces := take(store, account, job.id, limit=3):
            into.extend(pieces)

    threads = [
        threading.Thread(target=drain, args=(store, into))
        for store, into in zip((first, second), got, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    handed = sorted(int(piece["delta"]) for piece in got[0] + got[1])
    assert handed == list(range(200))


def test_only_the_owner_takes_a_live_jobs_pieces(
    store: JobStore, account: Account, other: Account
) -> None:
    """Another account's job, and a job past its retention, have no pieces to take: None."""
    job = submit(store, account, expires_at=NOW + 10)
    claim = claim_one(store)
    store.add_event(claim, EventType.TEXT, {"delta": "secret"}, NOW)
    assert store.take_stream(other.id, job.id, NOW, limit=10, max_bytes=100) is None
    assert store.take_stream(account.id, job.id, NOW + 10, limit=10, max_bytes=100) is None
    assert take(store, account, job.id) == [{"delta": "secret"}]


def test_a_queued_only_cancel_leaves_a_running_job(store: JobStore, account: Account) -> None:
    """``queued_only`` cancels a queued job as a cancel does, and leaves a running one to
    run, not asked to stop."""
    running = submit(store, account)
    claim_one(store)
    queued = submit(store, account)
    left = store.request_cancel(account.id, running.id, NOW, queued_only=True)
    assert left is not None
    assert left.status is Status.RUNNING
    assert not left.cancel_requested
    canceled = store.request_cancel(account.id, queued.id, NOW, queued_only=True)
    assert canceled is not None
    assert canceled.status is Status.CANCELED
    assert not get(store, running).cancel_requested


def test_the_retried_filter_counts_jobs_run_more_than_once(
    store: JobStore, account: Account
) -> None:
    """``JobFilter(retried=True)`` selects a job whose attempt was retried automatically;
    jobs run once are not."""
    once = submit(store, account)
    again = submit(store, account, created_at=T0 + 1)
    claim = claim_one(store)
    assert claim.job.id == once.id
    store.finish(claim, NOW)
    claim = claim_one(store)
    store.retry_later(claim, NOW, run_after=NOW, event={"status": "queued"})
    claim_one(store, now=NOW + 1)
    assert store.count_jobs(account.id, NOW, JobFilter(retried=True)) == 1
    [(_, found)] = store.list_jobs(account.id, NOW, limit=10, where=JobFilter(retried=True))
    assert found.id == again.id


def test_a_models_workers_and_those_busy(store: JobStore, account: Account) -> None:
    """The live workers that serve a model, and those of them running a job (of any model);
    a worker not seen since ``since`` does not count."""
    store.register_worker("w1", ["m", "n"], "host", 1, NOW)
    store.register_worker("w2", ["m"], "host", 2, NOW)
    store.register_worker("w3", ["n"], "host", 3, NOW)
    store.register_worker("old", ["m"], "host", 4, NOW - 2 * LEASE)
    since = NOW - LEASE

    def workers(model: str) -> tuple[int, int]:
        async def read() -> tuple[int, int]:
            try:
                return await store.read_model_workers(model, since)
            finally:
                await store.close_reads()  # the loop's own connections end with it

        return asyncio.run(read())

    assert workers("m") == (2, 0)
    submit(store, account, model="n")
    claim_one(store, worker="w1", models=("n",))
    assert workers("m") == (2, 1)
    assert workers("n") == (2, 1)
    assert workers("x") == (0, 0)
