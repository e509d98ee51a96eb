"""A job's ``status`` events carry the same data on both engines (PostgreSQL builds it in SQL,
SQLite from the changed row): the status, and a failed job's error code and message."""

from __future__ import annotations

from decimal import Decimal

from genq.jobs import EventType, Failure
from genq.store import JobStore
from tests.store.test_store_contract import LEASE, T0, new_job


def status_data(store: JobStore, job_id: str) -> list[dict[str, object]]:
    return [e.data for e in store.events_after(job_id, 0) if e.type is EventType.STATUS]


def test_a_failed_jobs_status_event_holds_its_error(fresh_store: JobStore) -> None:
    """Queued, running and failed events hold the status, the failed one also the error."""
    account = fresh_store.ensure_account("alice", Decimal(5), T0)
    job = fresh_store.submit(new_job(account)).job
    claim = fresh_store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    fresh_store.finish(claim, T0 + 2, error=Failure("model_error", "out of memory"))
    assert status_data(fresh_store, job.id) == [
        {"status": "queued"},
        {"status": "running"},
        {"status": "failed", "error": {"code": "model_error", "message": "out of memory"}},
    ]


def test_a_job_lost_too_often_fails_with_worker_lost(fresh_store: JobStore) -> None:
    """A job failed by the release of its lost worker records ``worker_lost`` and why."""
    account = fresh_store.ensure_account("alice", None, T0)
    job = fresh_store.submit(new_job(account)).job
    fresh_store.claim("w1", ["m"], T0 + 1, LEASE)
    assert fresh_store.release_worker("w1", T0 + 2, 1).failed == (job.id,)
    message = "the worker running this job was lost 1 times"
    assert status_data(fresh_store, job.id)[-1] == {
        "status": "failed",
        "error": {"code": "worker_lost", "message": message},
    }
