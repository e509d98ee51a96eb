"""The store's time limits: queued jobs expire at their start deadline, and a running job past
its timeout ends failed, both charged nothing, with their status events and webhook calls."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from genq.jobs import EventType, Status, WebhookEvent
from genq.store import JobStore
from tests.store.test_store_contract import LEASE, T0, new_job

HOOK = "https://example.com/hook"


def status_events(store: JobStore, job_id: str) -> list[dict[str, object]]:
    return [e.data for e in store.events_after(job_id, 0) if e.type is EventType.STATUS]


def test_queued_jobs_expire_at_their_start_deadline(fresh_store: JobStore) -> None:
    """A queued job ends expired at its start deadline, not before: charged nothing, its
    estimate no longer held, with its status event (which says why) and its webhook call;
    jobs without a deadline, or with a later one, stay queued."""
    store = fresh_store
    account = store.ensure_account("alice", Decimal(10), T0)
    soon = dataclasses.replace(
        new_job(account, cost=2),
        start_deadline=T0 + 10,
        webhook=HOOK,
        webhook_events=(WebhookEvent.COMPLETED,),
    )
    later = dataclasses.replace(new_job(account, cost=1), start_deadline=T0 + 100)
    never = new_job(account, cost=1)
    for new in (soon, later, never):
        store.submit(new)
    assert store.held(account.id) == 4
    assert store.next_start_deadline() == T0 + 10

    assert store.expire_start_deadlines(T0 + 9.9) == []
    [expired] = store.expire_start_deadlines(T0 + 10)
    assert expired.id == soon.id
    assert expired.status is Status.EXPIRED
    assert expired.error is not None
    assert expired.error.code == "start_deadline"
    assert expired.cost_actual == 0
    assert expired.finished_at == T0 + 10
    assert status_events(store, soon.id)[-1] == {
        "status": "expired",
        "error": {"code": "start_deadline", "message": expired.error.message},
    }
    assert [d.event for d in store.deliveries(soon.id)] == [WebhookEvent.COMPLETED]
    assert store.held(account.id) == 2
    found = store.get_account(account.id)
    assert found is not None
    assert found.credits == 10
    assert store.next_start_deadline() == T0 + 100
    assert store.expire_start_deadlines(T0 + 50) == []
    for new in (later, never):
        job = store.get_job(account.id, new.id, T0 + 50)
        assert job is not None
        assert job.status is Status.QUEUED


def test_a_started_job_does_not_expire(fresh_store: JobStore) -> None:
    """A job a worker took before its start deadline runs on past it."""
    store = fresh_store
    account = store.ensure_account("alice", None, T0)
    new = dataclasses.replace(new_job(account), start_deadline=T0 + 10)
    store.submit(new)
    store.claim("w1", ["m"], T0 + 5, LEASE)
    assert store.expire_start_deadlines(T0 + 20) == []
    assert store.next_start_deadline() is None
    job = store.get_job(account.id, new.id, T0 + 20)
    assert job is not None
    assert job.status is Status.RUNNING


def test_a_running_job_times_out_only_past_its_timeout(fresh_store: JobStore) -> None:
    """``time_out`` ends a running job failed with code ``timeout`` once its timeout has
    passed since it started, charged nothing; before that, or for a job without a timeout,
    it changes nothing. The worker's late end is then refused."""
    store = fresh_store
    account = store.ensure_account("alice", Decimal(10), T0)
    limited = dataclasses.replace(new_job(account, cost=1), timeout_seconds=5.0)
    free = new_job(account, cost=1, created_at=T0 + 1)
    store.submit(limited)
    store.submit(free)
    claims = {c.job.id: c for c in store.claim("w1", ["m"], T0 + 10, LEASE, limit=2)}
    assert store.time_out(limited.id, T0 + 14.9) is None
    assert store.time_out(free.id, T0 + 1000) is None
    job = store.time_out(limited.id, T0 + 15)
    assert job is not None
    assert job.status is Status.FAILED
    assert job.error is not None
    assert job.error.code == "timeout"
    assert "5 seconds" in job.error.message
    assert job.cost_actual == 0
    assert status_events(store, limited.id)[-1]["status"] == "failed"
    assert store.time_out(limited.id, T0 + 16) is None
    assert store.finish(claims[limited.id], T0 + 16, cost_actual=Decimal(1)) is None
    assert store.held(account.id) == 1
