"""The webhook outbox on both engines: a job's change writes the calls it makes due in the same
transaction (PostgreSQL in its one statement, SQLite in its steps), and the dispatcher's
take, settle and put-back see the same rows."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from genq.jobs import (
    DeliveryState,
    OutputRecord,
    ProgressRecord,
    WebhookEndpoint,
    WebhookEvent,
)
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


def test_a_call_whose_attempt_never_ended_is_taken_again_once_its_hold_lapses(
    fresh_store: JobStore,
) -> None:
    """A taken call never settled (its process died mid-attempt) is taken again once its
    hold lapses, not before; the lost attempt, should it end after all, settles nothing."""
    job = fresh_store.submit(hooked(fresh_store, (WebhookEvent.COMPLETED,))).job
    fresh_store.request_cancel(job.account_id, job.id, T0 + 1)
    [lost] = fresh_store.take_deliveries(T0 + 2, T0 + 14, 10, per_url=10)
    assert fresh_store.take_deliveries(T0 + 13, T0 + 25, 10, per_url=10) == []
    [again] = fresh_store.take_deliveries(T0 + 15, T0 + 27, 10, per_url=10)
    assert (again.id, again.attempts) == (lost.id, 0)
    ok = DeliveryState.DELIVERED
    assert fresh_store.settle_delivery(again, ok, T0 + 16, status=200, error=None)
    assert not fresh_store.settle_delivery(lost, ok, T0 + 17, status=200, error=None)
    [done] = fresh_store.deliveries(job.id)
    assert (done.state, done.attempts) == (DeliveryState.DELIVERED, 1)


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


# -- endpoints ------------------------------------------------------------------------------
HOOK = "https://hooks.example.com/endpoint"


def endpoint(
    store: JobStore,
    events: tuple[WebhookEvent, ...] = ALL,
    models: tuple[str, ...] | None = None,
    url: str = HOOK,
    account: str = "alice",
) -> WebhookEndpoint:
    owner = store.ensure_account(account, Decimal(5), T0)
    made = WebhookEndpoint(
        id=f"wh_{len(store.endpoints(owner.id))}_{account}",
        account_id=owner.id,
        url=url,
        events=events,
        models=models,
        description=None,
        secret="whsec_c2VjcmV0",
        created_at=T0,
    )
    assert store.add_endpoint(made, 50)
    return made


def calls_of(store: JobStore, job_id: str) -> list[tuple[str, str, str]]:
    """Each call of the job: its endpoint ("" for the job's own webhook), event and URL."""
    return [(d.endpoint_id or "", d.event.value, d.url) for d in store.deliveries(job_id)]


def run_to_end(store: JobStore, job: NewJob, outputs: bool = True) -> str:
    made = store.submit(job).job
    claim = store.claim("w1", [job.model], T0 + 1, LEASE)[0]
    store.set_progress(claim, ProgressRecord(1, 4), T0 + 2)
    store.set_progress(claim, ProgressRecord(2, 4), T0 + 3)
    found = [OutputRecord("k", "image/png", 1, "x")] if outputs else []
    store.finish(claim, T0 + 4, outputs=found)
    return made.id


def test_an_accounts_endpoints_are_called_for_the_events_and_models_they_want(
    fresh_store: JobStore,
) -> None:
    """Each endpoint of the job's account gets a call per event it wants (progress once while
    one waits, per endpoint), for the models it names; another account's endpoint, a disabled
    one and one for another model get none; the job's own webhook is called beside them."""
    everything = endpoint(fresh_store)
    ends = endpoint(fresh_store, (WebhookEvent.COMPLETED,), url="https://b.example.com/h")
    endpoint(fresh_store, ALL, models=("other",), url="https://c.example.com/h")
    endpoint(fresh_store, ALL, url="https://bob.example.com/h", account="bob")
    off = endpoint(fresh_store, ALL, url="https://off.example.com/h")
    assert fresh_store.disable_endpoint(off.id, None, T0, "test") is not None
    job_id = run_to_end(fresh_store, hooked(fresh_store, (WebhookEvent.START,)))
    calls = calls_of(fresh_store, job_id)
    assert sorted(calls) == sorted(
        [
            ("", "start", URL),
            (everything.id, "start", HOOK),
            (everything.id, "progress", HOOK),
            (everything.id, "output", HOOK),
            (everything.id, "completed", HOOK),
            (ends.id, "completed", ends.url),
        ]
    )
    # The endpoint's calls in the order they were made.
    assert [e for i, e, _ in calls if i == everything.id] == [
        "start",
        "progress",
        "output",
        "completed",
    ]


def test_an_endpoint_for_a_model_is_called_for_its_jobs(fresh_store: JobStore) -> None:
    only_m = endpoint(fresh_store, (WebhookEvent.COMPLETED,), models=("x", "m"))
    account = fresh_store.ensure_account("alice", Decimal(5), T0)
    job_id = run_to_end(fresh_store, new_job(account), outputs=False)
    assert calls_of(fresh_store, job_id) == [(only_m.id, "completed", HOOK)]


def test_a_dead_receiver_holds_back_no_other_receivers_calls_of_the_job(
    fresh_store: JobStore,
) -> None:
    """A job's calls go out in order per URL: the endpoint's ``start`` waiting for a retry
    holds back its own ``completed`` only."""
    hook = endpoint(fresh_store, (WebhookEvent.START, WebhookEvent.COMPLETED))
    job = fresh_store.submit(hooked(fresh_store, (WebhookEvent.START, WebhookEvent.COMPLETED))).job
    claim = fresh_store.claim("w1", ["m"], T0 + 1, LEASE)[0]
    fresh_store.finish(claim, T0 + 2, outputs=[])
    taken = fresh_store.take_deliveries(T0 + 3, T0 + 8, 10, per_url=10)
    assert sorted((d.endpoint_id or "", d.event.value) for d in taken) == [
        ("", "start"),
        (hook.id, "start"),
    ]
    for call in taken:
        if call.endpoint_id is None:
            ok = DeliveryState.DELIVERED
            assert fresh_store.settle_delivery(call, ok, T0 + 4, status=200, error=None)
        else:
            retry = DeliveryState.PENDING
            assert fresh_store.settle_delivery(
                call, retry, T0 + 4, status=500, error=None, next_at=T0 + 100
            )
    [completed] = fresh_store.take_deliveries(T0 + 10, T0 + 15, 10, per_url=10)
    assert (completed.endpoint_id, completed.event, completed.job_id) == (
        None,
        WebhookEvent.COMPLETED,
        job.id,
    )


def test_disabling_or_deleting_an_endpoint_fails_its_pending_calls(fresh_store: JobStore) -> None:
    first = endpoint(fresh_store, (WebhookEvent.COMPLETED,))
    second = endpoint(fresh_store, (WebhookEvent.COMPLETED,), url="https://b.example.com/h")
    account = fresh_store.ensure_account("alice", Decimal(5), T0)
    job = fresh_store.submit(new_job(account)).job
    fresh_store.request_cancel(account.id, job.id, T0 + 1)
    disabled = fresh_store.disable_endpoint(first.id, account.id, T0 + 2, "gone")
    assert disabled is not None
    assert (disabled.disabled_at, disabled.disabled_reason) == (T0 + 2, "gone")
    assert fresh_store.delete_endpoint(second.id, account.id, T0 + 3)
    assert not fresh_store.delete_endpoint(second.id, account.id, T0 + 3)
    states = {(d.endpoint_id, d.state, d.last_error) for d in fresh_store.deliveries(job.id)}
    assert states == {
        (first.id, DeliveryState.FAILED, "gone"),
        (second.id, DeliveryState.FAILED, "the webhook endpoint was deleted"),
    }
    assert fresh_store.take_deliveries(T0 + 4, T0 + 9, 10, per_url=10) == []
    assert [e.id for e in fresh_store.endpoints(account.id)] == [first.id]
    enabled = fresh_store.enable_endpoint(first.id, account.id)
    assert enabled is not None
    assert enabled.enabled


def test_an_endpoint_belongs_to_its_account(fresh_store: JobStore) -> None:
    mine = endpoint(fresh_store)
    bob = fresh_store.ensure_account("bob", Decimal(5), T0)
    assert fresh_store.get_endpoint(mine.id, bob.id) is None
    assert fresh_store.get_endpoint(mine.id, None) == mine
    assert fresh_store.disable_endpoint(mine.id, bob.id, T0, "x") is None
    assert fresh_store.enable_endpoint(mine.id, bob.id) is None
    assert fresh_store.rotate_endpoint_secret(mine.id, bob.id, "whsec_eA==", T0, T0) is None
    assert not fresh_store.delete_endpoint(mine.id, bob.id, T0)
    assert fresh_store.endpoints(bob.id) == []


def test_an_account_has_at_most_so_many_endpoints(fresh_store: JobStore) -> None:
    endpoint(fresh_store)
    second = dataclasses.replace(endpoint(fresh_store), id="wh_more")
    assert not fresh_store.add_endpoint(second, 2)
    assert len(fresh_store.endpoints(second.account_id)) == 2


def test_a_rotated_secret_signs_beside_the_new_one_for_a_while(fresh_store: JobStore) -> None:
    """The secret before a rotation signs until its time is up; rotated again meanwhile, it
    still does (the one in between never reached the receiver, if its answer was lost), and
    a rotation after that time replaces the secret it finds."""
    made = endpoint(fresh_store)
    rotate = fresh_store.rotate_endpoint_secret
    rotated = rotate(made.id, made.account_id, "whsec_bmV3", T0, T0 + 10)
    assert rotated is not None
    assert rotated.signing_secrets(T0 + 5) == ("whsec_bmV3", made.secret)
    assert rotated.signing_secrets(T0 + 10) == ("whsec_bmV3",)
    twice = rotate(made.id, made.account_id, "whsec_dHdpY2U=", T0 + 1, T0 + 11)
    assert twice is not None
    assert twice.signing_secrets(T0 + 5) == ("whsec_dHdpY2U=", made.secret)
    assert twice.signing_secrets(T0 + 10) == ("whsec_dHdpY2U=",)
    later = rotate(made.id, made.account_id, "whsec_bGF0ZXI=", T0 + 20, T0 + 30)
    assert later is not None
    assert later.signing_secrets(T0 + 25) == ("whsec_bGF0ZXI=", "whsec_dHdpY2U=")


def test_calls_are_listed_newest_first_and_sent_again(fresh_store: JobStore) -> None:
    """The account's calls by job, endpoint and state, a page at a time; a call sent again is
    due at once with a new retry window and its id; a pending one stays as it is; another
    account sees none of them."""
    hook = endpoint(fresh_store, (WebhookEvent.COMPLETED,))
    account = fresh_store.ensure_account("alice", Decimal(5), T0)
    jobs = []
    for n in range(3):
        job = fresh_store.submit(new_job(account)).job
        fresh_store.request_cancel(account.id, job.id, T0 + 1 + n)
        jobs.append(job.id)
    listed = fresh_store.list_deliveries(account.id)
    assert [d.job_id for d in listed] == jobs[::-1]
    page = fresh_store.list_deliveries(account.id, limit=2)
    rest = fresh_store.list_deliveries(account.id, before=(page[-1].created_at, page[-1].id))
    assert [d.id for d in page + rest] == [d.id for d in listed]
    assert [d.job_id for d in fresh_store.list_deliveries(account.id, job_id=jobs[1])] == [jobs[1]]
    assert len(fresh_store.list_deliveries(account.id, endpoint_id=hook.id)) == 3
    assert fresh_store.list_deliveries(account.id, state=DeliveryState.FAILED) == []
    bob = fresh_store.ensure_account("bob", Decimal(5), T0)
    assert fresh_store.list_deliveries(bob.id) == []
    assert fresh_store.redeliver(listed[0].id, bob.id, T0 + 50) is None
    # Pending: left as it is.
    assert fresh_store.redeliver(listed[0].id, account.id, T0 + 50) == listed[0]
    [call] = [d for d in fresh_store.take_deliveries(T0 + 10, T0 + 15, 10, per_url=10)][:1]
    assert fresh_store.settle_delivery(call, DeliveryState.FAILED, T0 + 11, status=400, error="x")
    again = fresh_store.redeliver(call.id, account.id, T0 + 50)
    assert again is not None
    assert (again.id, again.state, again.next_at, again.retry_from, again.finished_at) == (
        call.id,
        DeliveryState.PENDING,
        T0 + 50,
        T0 + 50,
        None,
    )
    assert again.window_start == T0 + 50
    assert fresh_store.get_delivery(call.id, account.id) == again
    assert call.id in {d.id for d in fresh_store.take_deliveries(T0 + 50, T0 + 55, 10, per_url=10)}


def test_an_attempt_from_before_a_call_was_sent_again_settles_nothing(
    fresh_store: JobStore,
) -> None:
    """A call is taken; its endpoint is disabled (failing it), enabled, and the call sent
    again, all while the first attempt is out: that attempt's answer settles nothing, and
    the call sent again starts over at 0 attempts."""
    hook = endpoint(fresh_store, (WebhookEvent.COMPLETED,))
    account = fresh_store.ensure_account("alice", Decimal(5), T0)
    job = fresh_store.submit(new_job(account)).job
    fresh_store.request_cancel(account.id, job.id, T0 + 1)
    [taken] = fresh_store.take_deliveries(T0 + 2, T0 + 60, 10, per_url=10)
    assert fresh_store.disable_endpoint(hook.id, account.id, T0 + 3, "off") is not None
    assert fresh_store.enable_endpoint(hook.id, account.id) is not None
    again = fresh_store.redeliver(taken.id, account.id, T0 + 4)
    assert again is not None
    assert (again.state, again.attempts) == (DeliveryState.PENDING, 0)
    ok = DeliveryState.DELIVERED
    assert not fresh_store.settle_delivery(taken, ok, T0 + 5, status=200, error=None)
    [now] = fresh_store.take_deliveries(T0 + 6, T0 + 60, 10, per_url=10)
    assert fresh_store.settle_delivery(now, ok, T0 + 7, status=200, error=None)


def test_an_endpoint_id_taken_meanwhile_is_not_an_error(fresh_store: JobStore) -> None:
    """Two registrations of one id (the same Idempotency-Key, at once): the second is told
    no, and the first stands."""
    made = endpoint(fresh_store)
    assert not fresh_store.add_endpoint(dataclasses.replace(made, url="https://x.example/h"), 50)
    assert fresh_store.get_endpoint(made.id, made.account_id) == made
    assert not fresh_store.endpoint_had_calls(made.id)
