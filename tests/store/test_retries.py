"""Retries in the store, on each engine: a retry linked both ways to the job it runs again, and
a failed attempt put back in the queue by its worker, fenced by its claim."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from genq.jobs import EventType, Failure, Status
from genq.retries import retry_event
from genq.store import JobStore, NewJob

T0 = 1_700_000_000.0
LEASE = 30.0


def new_job(account_id: str, id: str, **more: object) -> NewJob:
    return NewJob(
        id=id,
        account_id=account_id,
        model="m",
        input={"n": 1},
        priority=0,
        metadata={},
        cost_estimate=Decimal("0.5"),
        created_at=T0,
        expires_at=T0 + 86_400,
        **more,  # type: ignore[arg-type]
    )


def test_a_retry_is_linked_both_ways_to_the_job_it_runs_again(fresh_store: JobStore) -> None:
    """A job submitted with ``retry_of`` names that job, which names its latest retry."""
    store = fresh_store
    account = store.ensure_account("alice", None, T0)
    old = store.submit(new_job(account.id, "job_old")).job
    first = store.submit(new_job(account.id, "job_r1", retry_of=old.id))
    assert (first.created, first.job.retry_of) == (True, old.id)
    assert store.get_job(account.id, old.id, T0).retried_by == "job_r1"  # type: ignore[union-attr]
    second = store.submit(new_job(account.id, "job_r2", retry_of=old.id)).job
    again = store.submit(new_job(account.id, "job_r3", retry_of=second.id)).job
    old_now = store.get_job(account.id, old.id, T0)
    second_now = store.get_job(account.id, second.id, T0)
    assert old_now is not None
    assert second_now is not None
    assert (old_now.retried_by, second_now.retry_of, second_now.retried_by) == (
        "job_r2",
        old.id,
        again.id,
    )


def test_an_idempotent_retry_replays_without_a_second_link(fresh_store: JobStore) -> None:
    """A retry replayed by its Idempotency-Key returns the job it made, linked once."""
    store = fresh_store
    account = store.ensure_account("alice", None, T0)
    old = store.submit(new_job(account.id, "job_old")).job
    keyed = {"retry_of": old.id, "idempotency_key": "k", "fingerprint": "f"}
    made = store.submit(new_job(account.id, "job_r1", **keyed))
    replayed = store.submit(new_job(account.id, "job_r2", **keyed))
    assert (made.created, replayed.created, replayed.job.id) == (True, False, "job_r1")
    assert store.get_job(account.id, old.id, T0).retried_by == "job_r1"  # type: ignore[union-attr]


def test_a_failed_attempt_goes_back_to_the_queue_fenced_by_its_claim(
    fresh_store: JobStore,
) -> None:
    """``retry_later`` queues the job again with its ``run_after`` and a status event that
    says why and when; a stale claim, or a job whose cancel was asked for, changes nothing."""
    store = fresh_store
    account = store.ensure_account("alice", None, T0)
    job = store.submit(new_job(account.id, "job_a")).job
    [claim] = store.claim("w1", ["m"], T0 + 1, LEASE)
    failure = Failure("model_error", "boom")
    event = retry_event(failure, 1, T0 + 10)
    stale = replace(claim, attempt=claim.attempt + 1)
    assert store.retry_later(stale, T0 + 2, run_after=T0 + 10, event=event) is None
    queued = store.retry_later(claim, T0 + 2, run_after=T0 + 10, event=event)
    assert queued is not None
    assert (queued.status, queued.run_after, queued.attempts) == (Status.QUEUED, T0 + 10, 1)
    assert (queued.error, queued.cost_actual) == (None, None)
    last = store.events_after(job.id, 0)[-1]
    assert last.type is EventType.STATUS
    assert last.data["status"] == "queued"
    assert last.data["error"] == {"code": "model_error", "message": "boom"}
    assert last.data["retry"]["attempt"] == 1
    # The lease is gone: the first claim can no longer end the job.
    assert store.finish(claim, T0 + 3, error=failure) is None
    assert store.next_run_after(["m"], T0 + 3) == T0 + 10
    assert store.next_run_after(["other"], T0 + 3) is None
    assert store.next_run_after(["m"], T0 + 10) is None

    [again] = store.claim("w2", ["m"], T0 + 11, LEASE)
    assert (again.job.id, again.attempt) == (job.id, 2)
    store.request_cancel(account.id, job.id, T0 + 12)
    assert store.retry_later(again, T0 + 13, run_after=T0 + 20, event=event) is None
    ended = store.finish(again, T0 + 13, error=failure)
    assert ended is not None
    assert ended.status is Status.FAILED


def test_a_retry_waiting_is_not_claimed_before_its_time(fresh_store: JobStore) -> None:
    """A job queued again is not taken before its ``run_after``, and is after it."""
    store = fresh_store
    account = store.ensure_account("alice", None, T0)
    store.submit(new_job(account.id, "job_a"))
    [claim] = store.claim("w1", ["m"], T0 + 1, LEASE)
    event = retry_event(Failure("out_of_memory", "oom"), 1, T0 + 10)
    assert store.retry_later(claim, T0 + 2, run_after=T0 + 10, event=event) is not None
    assert store.claim("w1", ["m"], T0 + 9.9, LEASE) == []
    [again] = store.claim("w1", ["m"], T0 + 10, LEASE)
    assert again.attempt == 2
