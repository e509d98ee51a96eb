"""The webhook outbox on both engines: a job's change writes the calls it makes due in the same
transaction (PostgreSQL in its one statement, SQLite in its steps), and the dispatcher's
take, settle and put-back see the same rows."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from genq.jobs import DeliveryState, OutputRecord, ProgressRecord, WebhookEvent
from genq.store import JobStore, NewJob
from tests.store.test_store_contract import LEASE, T0, new_job

ALL = tuple(WebhookEvent)
URL = "https://hooks.example.com/genq"


def hooked(store: JobStore, events: tuple[WebhookEvent, ...] = ALL) -> NewJob:
    account = store.ensure_account("alice", Decimal(5), T0)
    return dataclasses.replace(new_job(account), webhook=URL, webhook_events=events)


def events_of(store: JobStore, job_id: str) -> list[str]:
    return [d.event.value for d in store.deliveries(job_id)]


def test_each_change_adds_the_calls_it_makes_due(fresh_store: JobStore) -> None:
    """Start, progress, and output then completed at a success with outputs, each once; a job
    keeps its webhook and events."""
    job = fresh_store.submit(hooked(fresh_store)).job
    assert (job.webhook, job.webhook_events) == (URL, ALL)
    assert events_of(fresh_store, job.id) == []
    claim = fresh_store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    assert claim.job.webhook == URL
    fresh_store.set_progress(claim, ProgressRecord(1, 4), T0 + 2)
    # The first progress call has not gone out: the second is not added.
    fresh_store.set_progress(claim, ProgressRecord(2, 4), T0 + 3)
    output = OutputRecord("j/0.png", "image/png", 3, "abc")
    fresh_store.finish(claim, T0 + 4, outputs=[output])
    assert events_of(fresh_store, job.id) == ["start", "progress", "output", "completed"]


def test_only_the_asked_events_are_called(fresh_store: JobStore) -> None:
    """A job that asked for ``completed`` only gets that call; one with no webhook, none."""
    job = fresh_store.submit(hooked(fresh_store, (WebhookEvent.COMPLETED,))).job
    claim = fresh_store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    fresh_store.set_progress(claim, ProgressRecord(1, 4), T0 + 2)
    fresh_store.finish(claim, T0 + 3, outputs=[OutputRecord("k", "image/png", 1, "x")])
    assert events_of(fresh_store, job.id) == ["completed"]
    account = fresh_store.ensure_account("alice", Decimal(5), T0)
    plain = fresh_store.submit(new_job(account)).job
    fresh_store.request_cancel(account.id, plain.id, T0 + 4)
    assert events_of(fresh_store, plain.id) == []


def test_a_canceled_queued_job_calls_completed(fresh_store: JobStore) -> None:
    """Canceling a queued job is a change like any other: its ``completed`` call is due."""
    job = fresh_store.submit(hooked(fresh_store)).job
    fresh_store.request_cancel(job.account_id, job.id, T0 + 1)
    assert events_of(fresh_store, job.id) == ["completed"]


def test_taken_deliveries_are_held_settled_and_put_back(fresh_store: JobStore) -> None:
    """A taken call is not taken again until its hold lapses; settling it is fenced by its
    attempt; one put back is due again; a delivered one is never taken again."""
    job = fresh_store.submit(hooked(fresh_store, (WebhookEvent.COMPLETED,))).job
    fresh_store.request_cancel(job.account_id, job.id, T0 + 1)
    [taken] = fresh_store.take_deliveries(T0 + 2, T0 + 60, 10, per_url=10)
    assert (taken.event, taken.url, taken.attempts) == (WebhookEvent.COMPLETED, URL, 0)
    assert fresh_store.take_deliveries(T0 + 3, T0 + 60, 10, per_url=10) == []
    # Retried later: due at T0 + 10.
    retry = DeliveryState.PENDING
    assert fresh_store.settle_delivery(
        taken, retry, T0 + 4, status=500, error=None, next_at=T0 + 10
    )
    assert not fresh_store.settle_delivery(taken, retry, T0 + 4, status=500, error=None)
    assert fresh_store.take_deliveries(T0 + 9, T0 + 60, 10, per_url=10) == []
    [again] = fresh_store.take_deliveries(T0 + 10, T0 + 60, 10, per_url=10)
    assert (again.id, again.attempts, again.last_status) == (taken.id, 1, 500)
    fresh_store.put_back([again], T0 + 20)
    [third] = fresh_store.take_deliveries(T0 + 20, T0 + 60, 10, per_url=10)
    assert third.attempts == 1
    assert fresh_store.settle_delivery(
        third, DeliveryState.DELIVERED, T0 + 21, status=204, error=None
    )
    assert fresh_store.take_deliveries(T0 + 1000, T0 + 2000, 10, per_url=10) == []
    [last] = fresh_store.deliveries(job.id)
    assert (last.state, last.attempts, last.last_status) == (DeliveryState.DELIVERED, 2, 204)


def test_a_deleted_jobs_deliveries_go_with_it(fresh_store: JobStore) -> None:
    """Deleting a job removes its calls: nothing is left to send for a job that is gone."""
    job = fresh_store.submit(hooked(fresh_store)).job
    fresh_store.request_cancel(job.account_id, job.id, T0 + 1)
    fresh_store.delete_job(job.account_id, job.id, T0 + 2)
    assert fresh_store.take_deliveries(T0 + 3, T0 + 60, 10, per_url=10) == []


def test_an_accounts_secret_is_made_once(fresh_store: JobStore) -> None:
    """The first secret offered is kept; later offers read it back."""
    account = fresh_store.ensure_account("alice", None, T0)
    assert fresh_store.webhook_secret(account.id, "whsec_a", T0) == "whsec_a"
    assert fresh_store.webhook_secret(account.id, "whsec_b", T0) == "whsec_a"


def test_a_take_holds_few_calls_of_one_url(fresh_store: JobStore) -> None:
    """At most ``per_url`` calls to one URL per take: a receiver's backlog leaves room for
    another receiver's call made after it."""
    for _ in range(5):
        job = fresh_store.submit(hooked(fresh_store, (WebhookEvent.COMPLETED,))).job
        fresh_store.request_cancel(job.account_id, job.id, T0 + 1)
    other = dataclasses.replace(
        hooked(fresh_store, (WebhookEvent.COMPLETED,)), webhook="https://other.example.com/"
    )
    late = fresh_store.submit(other).job
    fresh_store.request_cancel(late.account_id, late.id, T0 + 2)
    taken = fresh_store.take_deliveries(T0 + 3, T0 + 60, 3, per_url=2)
    assert sorted(d.url for d in taken) == ["https://hooks.example.com/genq"] * 2 + [
        "https://other.example.com/"
    ]
    assert len(fresh_store.take_deliveries(T0 + 3, T0 + 60, 10, per_url=2)) == 2


def test_a_jobs_calls_are_taken_in_order(fresh_store: JobStore) -> None:
    """A job's call is not taken while an earlier one of the job is pending, even when that
    one waits for a retry: start, then output, then completed (made at the same time)."""
    job = fresh_store.submit(hooked(fresh_store)).job
    claim = fresh_store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    fresh_store.finish(claim, T0 + 2, outputs=[OutputRecord("k", "image/png", 1, "x")])

    def take(at: float) -> list[str]:
        return [d.event.value for d in fresh_store.take_deliveries(at, at + 5, 10, per_url=10)]

    [start] = fresh_store.take_deliveries(T0 + 3, T0 + 8, 10, per_url=10)
    assert start.event is WebhookEvent.START
    assert fresh_store.settle_delivery(
        start, DeliveryState.PENDING, T0 + 4, status=500, error=None, next_at=T0 + 20
    )
    assert take(T0 + 10) == []
    assert take(T0 + 20) == ["start"]
    [start] = fresh_store.deliveries(job.id)[:1]
    assert fresh_store.settle_delivery(
        start, DeliveryState.DELIVERED, T0 + 21, status=200, error=None
    )
    [output] = fresh_store.take_deliveries(T0 + 22, T0 + 27, 10, per_url=10)
    assert output.event is WebhookEvent.OUTPUT
    assert fresh_store.settle_delivery(
        output, DeliveryState.FAILED, T0 + 23, status=404, error=None
    )
    assert take(T0 + 24) == ["completed"]
