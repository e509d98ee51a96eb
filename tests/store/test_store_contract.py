"""The behavioural contract of ``JobStore``, run against every implementation.

Each factory in ``STORE_FACTORIES`` takes a test's ``tmp_path`` and returns an open store;
calling it twice with the same directory must open a second handle on the *same* database
(the reopen and cross-connection tests rely on that). SQLite gets a file in the directory,
PostgreSQL a schema of its own on the test server, dropped at the end of the test.

Time is never slept: every call gets an explicit ``now``, counted from ``T0``.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from genq.errors import Clash, ConfigError, OutOfCredits
from genq.jobs import (
    Account,
    AccountLimits,
    Claim,
    EventRecord,
    EventType,
    Failure,
    JobRecord,
    OriginRecord,
    OutputRecord,
    ProgressRecord,
    Status,
)
from genq.store import JobFilter, JobStore, NewJob, Released, open_store
from genq.store.postgres import PostgresStore
from genq.store.sqlite import SQLiteStore
from tests.pg import empty_schema, hand_back, store_url

StoreFactory = Callable[[Path], JobStore]


def sqlite_store(directory: Path) -> JobStore:
    return SQLiteStore(directory / "genq.db")


_schemas: dict[Path, str] = {}


def postgres_store(directory: Path) -> JobStore:
    if directory not in _schemas:
        _schemas[directory] = empty_schema()
    return PostgresStore(store_url(_schemas[directory]))


STORE_FACTORIES = [
    pytest.param(sqlite_store, id="sqlite"),
    pytest.param(postgres_store, id="postgres"),
]

T0 = 1_700_000_000.0
DAY = 86_400.0
LEASE = 30.0
MAX_ATTEMPTS = 3

_ids = itertools.count(1)


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture(params=STORE_FACTORIES)
def open_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], JobStore]]:
    """Open handles on one database per test; all of them are closed at the end."""
    factory: StoreFactory = request.param
    opened: list[JobStore] = []

    def open_() -> JobStore:
        store = factory(tmp_path)
        opened.append(store)
        return store

    yield open_
    for store in reversed(opened):
        store.close()
    schema = _schemas.pop(tmp_path, None)
    if schema is not None:
        hand_back(schema)


@pytest.fixture
def store(open_db: Callable[[], JobStore]) -> JobStore:
    return open_db()


@pytest.fixture
def account(store: JobStore) -> Account:
    return store.ensure_account("alice", None, T0)


@pytest.fixture
def other(store: JobStore) -> Account:
    return store.ensure_account("bob", None, T0)


def new_job(
    account: Account,
    *,
    model: str = "m",
    priority: int = 0,
    created_at: float = T0,
    expires_at: float | None = None,
    cost: float | Decimal = 0,
    key: str | None = None,
    fingerprint: str | None = None,
    input: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> NewJob:
    return NewJob(
        id=f"job_{next(_ids):06d}",
        account_id=account.id,
        model=model,
        input={"prompt": "a cat"} if input is None else input,
        priority=priority,
        metadata={} if metadata is None else metadata,
        cost_estimate=Decimal(str(cost)),
        created_at=created_at,
        expires_at=created_at + DAY if expires_at is None else expires_at,
        idempotency_key=key,
        fingerprint=fingerprint,
    )


def submit(store: JobStore, account: Account, **kwargs: Any) -> JobRecord:
    submitted = store.submit(new_job(account, **kwargs))
    assert submitted.created
    return submitted.job


def submit_many(store: JobStore, account: Account, n: int, **kwargs: Any) -> list[JobRecord]:
    start = kwargs.pop("created_at", T0)
    return [submit(store, account, created_at=start + i, **kwargs) for i in range(n)]


def claim_one(
    store: JobStore, worker: str = "w1", now: float = T0 + 100, models: Sequence[str] = ("m",)
) -> Claim:
    claims = store.claim(worker, models, now, LEASE)
    assert len(claims) == 1
    return claims[0]


def get(store: JobStore, job: JobRecord, now: float = T0 + 100) -> JobRecord:
    found = store.get_job(job.account_id, job.id, now)
    assert found is not None
    return found


def events(store: JobStore, job: JobRecord, after: int = 0) -> list[EventRecord]:
    return store.events_after(job.id, after)


def statuses(store: JobStore, job: JobRecord) -> list[str]:
    return [e.data["status"] for e in events(store, job) if e.type is EventType.STATUS]


def output(n: int) -> OutputRecord:
    return OutputRecord(
        key=f"job/out_{n}.png",
        content_type="image/png",
        size=1000 + n,
        sha256=f"{n:064x}",
        width=64,
        height=48,
    )


# -- accounts and keys ------------------------------------------------------------------------
def test_ensure_account_is_idempotent_by_name_and_keeps_first_credits(store: JobStore) -> None:
    """ensure_account returns the same account for the same name and keeps its first credits."""
    first = store.ensure_account("alice", Decimal(10), T0)
    again = store.ensure_account("alice", Decimal(999), T0 + 50)
    assert again == first
    assert again.name == "alice"
    assert again.credits == 10.0
    assert again.created_at == T0
    assert store.get_account(first.id) == first
    other = store.ensure_account("bob", None, T0)
    assert other.id != first.id
    assert other.credits is None


def test_get_account_unknown_id_is_none(store: JobStore) -> None:
    """get_account returns None for an id that names no account."""
    assert store.get_account("acct_nope") is None


def test_create_key_and_find_key_by_hash(store: JobStore, account: Account) -> None:
    """create_key stores a key that find_key returns by its hash, with its account's name."""
    key = store.create_key("key_1", account.id, "laptop", "hash-1", "gq_abcd", T0)
    assert key.id == "key_1"
    assert key.account_id == account.id
    assert key.account_name == "alice"
    assert key.name == "laptop"
    assert key.prefix == "gq_abcd"
    assert key.disabled is False
    assert key.created_at == T0
    # Found by its hash, it carries its account's limits (none set: each the default).
    assert store.find_key("hash-1") == dataclasses.replace(key, limits=AccountLimits())
    assert store.find_key("hash-unknown") is None


def test_list_keys_returns_every_key(store: JobStore, account: Account, other: Account) -> None:
    """list_keys returns the keys of all accounts, each with its account's name."""
    assert store.list_keys() == []
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    store.create_key("key_2", other.id, "ci", "h2", "p2", T0 + 1)
    store.create_key("key_3", account.id, "x", "h3", "p3", T0 + 2)
    keys = {k.id: k for k in store.list_keys()}
    assert set(keys) == {"key_1", "key_2", "key_3"}
    assert keys["key_1"].account_name == "alice"
    assert keys["key_1"].name is None
    assert keys["key_2"].account_name == "bob"
    assert keys["key_2"].account_id == other.id


def test_key_updates_return_none_for_unknown_ids(store: JobStore, account: Account) -> None:
    """set_key_disabled and delete_key return None when no key has the id."""
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    assert store.set_key_disabled("key_nope", True) is None
    assert store.delete_key("key_nope") is None
    assert store.find_key("h1") is not None


def test_disabled_key_is_still_found(store: JobStore, account: Account) -> None:
    """A disabled key is still returned by find_key, with disabled=True, and can be re-enabled."""
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    changed = store.set_key_disabled("key_1", True)
    assert changed is not None
    assert (changed.id, changed.disabled, changed.key_hash) == ("key_1", True, "h1")
    found = store.find_key("h1")
    assert found is not None
    assert found.disabled is True
    assert [k.disabled for k in store.list_keys()] == [True]
    assert store.set_key_disabled("key_1", False) is not None
    found = store.find_key("h1")
    assert found is not None
    assert found.disabled is False


def test_delete_key_removes_it(store: JobStore, account: Account) -> None:
    """delete_key removes the key for good, and a second delete returns None."""
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    store.create_key("key_2", account.id, None, "h2", "p2", T0)
    deleted = store.delete_key("key_1")
    assert deleted is not None
    assert (deleted.id, deleted.key_hash) == ("key_1", "h1")
    assert store.find_key("h1") is None
    assert [k.id for k in store.list_keys()] == ["key_2"]
    assert store.delete_key("key_1") is None


# -- submit -----------------------------------------------------------------------------------
def test_submit_creates_queued_job_with_queued_status_event(
    store: JobStore, account: Account
) -> None:
    """submit creates a queued job with every field given and a first `queued` status event."""
    new = new_job(
        account,
        model="m",
        priority=3,
        created_at=T0,
        expires_at=T0 + 500,
        cost=2.5,
        input={"prompt": "a dog", "steps": 4},
        metadata={"user": "u1"},
    )
    submitted = store.submit(new)
    assert submitted.created is True
    job = submitted.job
    assert job.id == new.id
    assert job.account_id == account.id
    assert job.model == "m"
    assert job.status is Status.QUEUED
    assert job.input == {"prompt": "a dog", "steps": 4}
    assert job.metadata == {"user": "u1"}
    assert job.priority == 3
    assert job.cost_estimate == 2.5
    assert job.created_at == T0
    assert job.expires_at == T0 + 500
    assert job.attempts == 0
    assert job.cancel_requested is False
    assert job.outputs == ()
    assert job.error is None
    assert job.cost_actual is None
    assert job.started_at is None
    assert job.finished_at is None
    assert job.progress == ProgressRecord()
    assert store.get_job(account.id, job.id, T0 + 1) == job
    evs = events(store, job)
    assert len(evs) == 1
    assert evs[0].type is EventType.STATUS
    assert evs[0].data["status"] == "queued"
    assert evs[0].job_id == job.id
    assert evs[0].created_at == T0


def test_submit_without_idempotency_key_always_creates(store: JobStore, account: Account) -> None:
    """Two submits without an idempotency key create two jobs."""
    a = submit(store, account)
    b = submit(store, account)
    assert a.id != b.id
    assert len(store.list_jobs(account.id, T0, limit=10)) == 2


def test_submit_idempotent_replay_returns_original_job(store: JobStore, account: Account) -> None:
    """The same idempotency key and fingerprint returns the first job with created=False."""
    first = store.submit(new_job(account, key="k1", fingerprint="fp1"))
    assert first.created is True
    replay_new = new_job(account, key="k1", fingerprint="fp1", created_at=T0 + 5)
    replay = store.submit(replay_new)
    assert replay.created is False
    assert replay.job == first.job
    assert store.get_job(account.id, replay_new.id, T0 + 10) is None
    assert [j.id for _, j in store.list_jobs(account.id, T0 + 10, limit=10)] == [first.job.id]
    assert len(events(store, first.job)) == 1


def test_submit_replay_is_not_refused_for_credits(store: JobStore) -> None:
    """An idempotent replay returns the original job even once the credits are spent."""
    payer = store.ensure_account("payer", Decimal(10), T0)
    first = store.submit(new_job(payer, key="k1", fingerprint="fp1", cost=10.0))
    assert store.finish(claim_one(store), T0 + 150, cost_actual=Decimal(10)) is not None
    replay = store.submit(new_job(payer, key="k1", fingerprint="fp1", cost=10.0))
    assert replay.created is False
    assert replay.job.id == first.job.id
    with pytest.raises(OutOfCredits):
        store.submit(new_job(payer, key="k2", fingerprint="fp1", cost=10.0))


def test_submit_same_key_other_fingerprint_conflicts(store: JobStore, account: Account) -> None:
    """The same idempotency key with another fingerprint raises Conflict idempotency_conflict."""
    first = submit(store, account, key="k1", fingerprint="fp1")
    with pytest.raises(Clash) as caught:
        store.submit(new_job(account, key="k1", fingerprint="fp2"))
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.status_code == 409
    assert [j.id for _, j in store.list_jobs(account.id, T0, limit=10)] == [first.id]


def test_same_idempotency_key_in_two_accounts_creates_two_jobs(
    store: JobStore, account: Account, other: Account
) -> None:
    """An idempotency key is scoped to its account: two accounts get two jobs."""
    a = store.submit(new_job(account, key="k1", fingerprint="fp1"))
    b = store.submit(new_job(other, key="k1", fingerprint="fp1"))
    assert a.created is True
    assert b.created is True
    assert a.job.id != b.job.id
    assert b.job.account_id == other.id
    assert store.get_job(account.id, b.job.id, T0) is None
    assert store.get_job(other.id, a.job.id, T0) is None


def test_submit_estimate_above_credits_raises(store: JobStore) -> None:
    """An estimate above the account's credits raises OutOfCredits and creates nothing."""
    poor = store.ensure_account("poor", Decimal(5), T0)
    with pytest.raises(OutOfCredits) as caught:
        store.submit(new_job(poor, cost=5.5))
    assert caught.value.code == "insufficient_credits"
    assert store.list_jobs(poor.id, T0, limit=10) == []
    # An estimate equal to the balance does not exceed it.
    assert store.submit(new_job(poor, cost=5.0)).created is True


def test_a_repeated_submit_on_a_limited_account_finds_its_own_job(store: JobStore) -> None:
    """A submit repeated with the same job (as after a commit whose answer was lost) returns
    the job it made, without a key too, rather than counting its hold twice."""
    limited = store.ensure_account("limited", Decimal(3), T0)
    new = new_job(limited, cost=2.0)
    first = store.submit(new)
    again = store.submit(new)
    assert again.job.id == first.job.id
    assert again.created is True
    batch = [new_job(limited, cost=0.5), new_job(limited, cost=0.5)]
    made = store.submit_many(batch)
    assert [j.id for j in store.submit_many(batch)] == [j.id for j in made]
    assert len(store.list_jobs(limited.id, T0, limit=10)) == 3


def test_account_without_credits_has_no_limit(store: JobStore) -> None:
    """An account with credits=None accepts any estimate and is never charged."""
    rich = store.ensure_account("rich", None, T0)
    job = submit(store, rich, cost=1e12)
    claim = claim_one(store)
    done = store.finish(claim, T0 + 200, cost_actual=Decimal("1e12"))
    assert done is not None
    assert done.status is Status.SUCCEEDED
    assert job.cost_estimate == 1e12
    assert store.get_account(rich.id) == rich


# -- get_job ----------------------------------------------------------------------------------
def test_get_job_of_another_account_is_none(
    store: JobStore, account: Account, other: Account
) -> None:
    """get_job returns None for a job that belongs to another account."""
    job = submit(store, account)
    assert store.get_job(other.id, job.id, T0) is None
    assert store.get_job(account.id, job.id, T0) == job
    assert store.get_job(account.id, "job_nope", T0) is None


def test_get_job_past_expires_at_is_none(store: JobStore, account: Account) -> None:
    """get_job returns None once the job's expires_at has passed."""
    job = submit(store, account, expires_at=T0 + 100)
    assert store.get_job(account.id, job.id, T0 + 99) == job
    assert store.get_job(account.id, job.id, T0 + 101) is None


def test_get_job_any_account_ignores_account_but_not_expiry(
    store: JobStore, account: Account, other: Account
) -> None:
    """get_job_any_account finds any account's job but not one past its expires_at."""
    mine = submit(store, account, expires_at=T0 + 100)
    theirs = submit(store, other, expires_at=T0 + 100)
    assert store.get_job_any_account(mine.id, T0 + 50) == mine
    assert store.get_job_any_account(theirs.id, T0 + 50) == theirs
    assert store.get_job_any_account(mine.id, T0 + 101) is None
    assert store.get_job_any_account("job_nope", T0) is None


# -- list_jobs --------------------------------------------------------------------------------
def test_list_jobs_newest_first(store: JobStore, account: Account) -> None:
    """list_jobs returns the account's jobs newest first, with decreasing seq."""
    jobs = submit_many(store, account, 4)
    listed = store.list_jobs(account.id, T0 + 10, limit=10)
    assert [j for _, j in listed] == list(reversed(jobs))
    seqs = [s for s, _ in listed]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == len(seqs)
    assert [j.id for _, j in store.list_jobs(account.id, T0 + 10, limit=2)] == [
        jobs[3].id,
        jobs[2].id,
    ]


def test_list_jobs_keyset_pagination_sees_each_job_once(store: JobStore, account: Account) -> None:
    """Paging with before_seq returns each job exactly once even as new jobs arrive."""
    original = submit_many(store, account, 7)
    seen: list[str] = []
    before: int | None = None
    arrivals = itertools.count(100)
    for _ in range(10):
        page = store.list_jobs(account.id, T0 + 50, limit=3, before_seq=before)
        if not page:
            break
        seen.extend(j.id for _, j in page)
        before = page[-1][0]
        for _ in range(2):
            submit(store, account, created_at=T0 + next(arrivals))
    assert seen == [j.id for j in reversed(original)]


def test_list_jobs_filters_by_status_and_model(store: JobStore, account: Account) -> None:
    """list_jobs filters on status and on model, alone or together."""
    a1 = submit(store, account, model="a", created_at=T0)
    a2 = submit(store, account, model="a", created_at=T0 + 1)
    b1 = submit(store, account, model="b", created_at=T0 + 2)
    b2 = submit(store, account, model="b", created_at=T0 + 3)
    claim_one(store, models=["a"])  # a1 runs
    store.request_cancel(account.id, b2.id, T0 + 100)  # b2 canceled

    def ids(*statuses: str, model: str | None = None) -> list[str]:
        where = JobFilter(statuses=statuses, model=model)
        listed = [j.id for _, j in store.list_jobs(account.id, T0 + 100, limit=10, where=where)]
        assert store.count_jobs(account.id, T0 + 100, where) == len(listed)
        return listed

    assert ids(model="a") == [a2.id, a1.id]
    assert ids(model="b") == [b2.id, b1.id]
    assert ids("queued") == [b1.id, a2.id]
    assert ids("running") == [a1.id]
    assert ids("canceled") == [b2.id]
    assert ids("queued", "running") == [b1.id, a2.id, a1.id]
    assert ids("running", "queued") == [b1.id, a2.id, a1.id]
    assert ids("no-such-status") == []
    assert ids("queued", model="b") == [b1.id]
    assert ids("running", model="b") == []
    assert ids(model="c") == []


def test_submit_many_is_all_or_none_within_the_balance(store: JobStore) -> None:
    """submit_many queues every job (each with its first event) when together they fit the
    balance, and none when they do not."""
    payer = store.ensure_account("group", Decimal(5), T0)
    refused = [new_job(payer, cost=2.0, created_at=T0 + i) for i in range(3)]
    with pytest.raises(OutOfCredits):
        store.submit_many(refused)
    assert store.list_jobs(payer.id, T0 + 10, limit=10) == []
    assert [store.get_job(payer.id, n.id, T0 + 10) for n in refused] == [None] * 3
    accepted = [new_job(payer, cost=2.0, created_at=T0 + i) for i in range(2)]
    jobs = store.submit_many(accepted)
    assert [j.id for j in jobs] == [n.id for n in accepted]
    assert all(j.status is Status.QUEUED for j in jobs)
    assert [e.data for e in store.events_after(jobs[1].id, 0)] == [{"status": "queued"}]
    # What they hold now leaves 1.0 of the balance.
    with pytest.raises(OutOfCredits):
        store.submit(new_job(payer, cost=1.5))
    assert store.submit_many([]) == []


def test_jobs_keep_their_origin_and_list_by_it(store: JobStore, account: Account) -> None:
    """A job's origin (API, model name used, request) is kept, and listings filter on it."""
    native = submit(store, account)
    first = store.submit(
        replace(
            new_job(account, created_at=T0 + 1),
            origin=OriginRecord("segmind", "seedream-4.5", {"prompt": "a rose", "seed": 3}),
        )
    ).job
    second = store.submit(
        replace(new_job(account, created_at=T0 + 2), origin=OriginRecord("segmind", "other"))
    ).job
    assert native.origin is None
    assert first.origin == OriginRecord("segmind", "seedream-4.5", {"prompt": "a rose", "seed": 3})
    fetched = store.get_job(account.id, first.id, T0 + 10)
    assert fetched is not None
    assert fetched.origin == first.origin

    def ids(where: JobFilter) -> list[str]:
        return [j.id for _, j in store.list_jobs(account.id, T0 + 10, limit=10, where=where)]

    assert ids(JobFilter(origin_api="segmind")) == [second.id, first.id]
    assert ids(JobFilter(origin_api="segmind", origin_model="seedream-4.5")) == [first.id]
    assert ids(JobFilter(origin_api="oxen")) == []
    assert store.count_jobs(account.id, T0 + 10, JobFilter(origin_api="segmind")) == 2


def test_list_jobs_pages_by_offset(store: JobStore, account: Account) -> None:
    """list_jobs with an offset skips that many of the newest jobs; count_jobs counts all."""
    jobs = submit_many(store, account, 5)
    newest_first = [j.id for j in reversed(jobs)]
    pages = [
        [j.id for _, j in store.list_jobs(account.id, T0 + 10, limit=2, offset=offset)]
        for offset in (0, 2, 4, 6)
    ]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:], []]
    assert store.count_jobs(account.id, T0 + 10) == 5


def test_list_jobs_excludes_expired_and_other_accounts(
    store: JobStore, account: Account, other: Account
) -> None:
    """list_jobs leaves out jobs past expires_at and jobs of other accounts."""
    short = submit(store, account, expires_at=T0 + 100)
    long = submit(store, account, expires_at=T0 + 1000, created_at=T0 + 1)
    submit(store, other, created_at=T0 + 2)
    assert [j.id for _, j in store.list_jobs(account.id, T0 + 50, limit=10)] == [long.id, short.id]
    assert [j.id for _, j in store.list_jobs(account.id, T0 + 500, limit=10)] == [long.id]
    assert store.list_jobs(account.id, T0 + 5000, limit=10) == []


# -- claim ------------------------------------------------------------------------------------
def test_claim_takes_highest_priority_then_oldest(store: JobStore, account: Account) -> None:
    """claim hands out the highest priority first and, among equals, the oldest first."""
    low_old = submit(store, account, priority=0, created_at=T0)
    high_old = submit(store, account, priority=5, created_at=T0 + 1)
    low_new = submit(store, account, priority=0, created_at=T0 + 2)
    high_new = submit(store, account, priority=5, created_at=T0 + 3)
    mid = submit(store, account, priority=2, created_at=T0 + 4)
    order = [claim_one(store, now=T0 + 10 + i).job.id for i in range(5)]
    assert order == [high_old.id, high_new.id, mid.id, low_old.id, low_new.id]
    assert store.claim("w1", ["m"], T0 + 20, LEASE) == []


def test_claim_with_limit_takes_the_best_jobs(store: JobStore, account: Account) -> None:
    """claim with a limit takes at most that many jobs, the best-ranked ones."""
    low = submit(store, account, priority=0, created_at=T0)
    high_a = submit(store, account, priority=9, created_at=T0 + 1)
    high_b = submit(store, account, priority=9, created_at=T0 + 2)
    claims = store.claim("w1", ["m"], T0 + 10, LEASE, limit=2)
    assert len(claims) == 2
    assert {c.job.id for c in claims} == {high_a.id, high_b.id}
    rest = store.claim("w1", ["m"], T0 + 10, LEASE, limit=5)
    assert [c.job.id for c in rest] == [low.id]
    assert store.claim("w1", ["m"], T0 + 10, LEASE, limit=5) == []


def test_claim_only_listed_models(store: JobStore, account: Account) -> None:
    """claim only takes jobs of the models it was given."""
    a = submit(store, account, model="a", priority=0)
    b = submit(store, account, model="b", priority=9)
    c = submit(store, account, model="c", priority=5)
    assert store.claim("w1", [], T0 + 10, LEASE, limit=10) == []
    assert [cl.job.id for cl in store.claim("w1", ["a"], T0 + 10, LEASE, limit=10)] == [a.id]
    got = store.claim("w1", ["b", "c", "zzz"], T0 + 10, LEASE, limit=10)
    assert {cl.job.id for cl in got} == {b.id, c.id}
    assert store.claim("w1", ["a", "b", "c"], T0 + 10, LEASE, limit=10) == []


def test_claim_ranks_the_jobs_of_all_its_models_together(store: JobStore, account: Account) -> None:
    """claim ranks the jobs of every model it was given as one queue (highest priority, then
    oldest, whatever the model), however the models are listed, and leaves expired jobs."""
    a_low = submit(store, account, model="a", priority=0, created_at=T0)
    b_high = submit(store, account, model="b", priority=5, created_at=T0 + 1)
    submit(store, account, model="c", priority=9, created_at=T0 + 2)
    a_high = submit(store, account, model="a", priority=5, created_at=T0 + 3)
    b_low = submit(store, account, model="b", priority=0, created_at=T0 + 4)
    submit(store, account, model="b", priority=9, created_at=T0 + 5, expires_at=T0 + 6)
    models = ["b", "a", "b"]
    best = store.claim("w1", models, T0 + 10, LEASE, limit=3)
    assert [c.job.id for c in best] == [b_high.id, a_high.id, a_low.id]
    rest = store.claim("w1", models, T0 + 10, LEASE, limit=3)
    assert [c.job.id for c in rest] == [b_low.id]


def test_a_job_never_starts_before_it_was_made(store: JobStore, account: Account) -> None:
    """A worker may read its clock just before a job is made and see the job when its claim
    runs (it waited for the submit's lock): the job starts when it was made, never before,
    so its queue time is never negative."""
    job = submit(store, account, created_at=T0 + 10)
    claim = claim_one(store, now=T0 + 9.998)
    assert claim.job.started_at == T0 + 10
    assert get(store, job).queue_time == 0


def test_claimed_job_is_running_with_attempt_worker_and_event(
    store: JobStore, account: Account
) -> None:
    """A claimed job is running with attempts incremented, its worker set and a running event."""
    job = submit(store, account)
    claim = claim_one(store, worker="w1", now=T0 + 10)
    assert claim.worker_id == "w1"
    assert claim.attempt == 1
    assert claim.job.id == job.id
    assert claim.job.status is Status.RUNNING
    assert claim.job.attempts == 1
    assert claim.job.started_at == T0 + 10
    stored = get(store, job)
    assert stored.status is Status.RUNNING
    assert stored.attempts == 1
    assert statuses(store, job) == ["queued", "running"]
    assert events(store, job)[-1].created_at == T0 + 10
    # The worker id is recorded: only releasing that worker takes the job back.
    assert store.release_worker("w2", T0 + 11, MAX_ATTEMPTS).requeued == ()
    assert store.release_worker("w1", T0 + 11, MAX_ATTEMPTS).requeued == (job.id,)
    again = claim_one(store, worker="w2", now=T0 + 12)
    assert again.attempt == 2
    assert again.job.attempts == 2
    assert again.worker_id == "w2"


def test_claims_never_return_the_same_job(store: JobStore, account: Account) -> None:
    """Claiming in a loop until the queue is empty hands out every job exactly once."""
    jobs = submit_many(store, account, 25)
    handed: list[str] = []
    for i in itertools.count():
        claims = store.claim(f"w{i % 3}", ["m"], T0 + 100 + i, LEASE, limit=1 + i % 4)
        if not claims:
            break
        handed.extend(c.job.id for c in claims)
    assert len(handed) == len(jobs)
    assert sorted(handed) == sorted(j.id for j in jobs)


def test_concurrent_claims_from_separate_handles_never_overlap(
    open_db: Callable[[], JobStore],
) -> None:
    """Workers claiming at once through separate store handles never get the same job."""
    store = open_db()
    account = store.ensure_account("alice", None, T0)
    jobs = submit_many(store, account, 60)
    handed: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    handles = [open_db() for _ in range(4)]

    def work(n: int) -> None:
        try:
            barrier.wait()
            while claims := handles[n].claim(f"w{n}", ["m"], T0 + 100, LEASE, limit=2):
                handed[n].extend(c.job.id for c in claims)
        except BaseException as exc:
            errors.append(exc)
        finally:
            handles[n].close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    everything = [job_id for part in handed for job_id in part]
    assert len(everything) == len(jobs)
    assert sorted(everything) == sorted(j.id for j in jobs)


# -- heartbeat --------------------------------------------------------------------------------
def test_release_lapsed_takes_back_a_lease_that_was_not_renewed(
    store: JobStore, account: Account
) -> None:
    """Without a heartbeat, release_lapsed requeues the job once its lease has ended."""
    job = submit(store, account)
    claim_one(store, now=T0 + 100)  # lease ends at T0 + 130
    assert store.release_lapsed(T0 + 120, MAX_ATTEMPTS).requeued == ()
    released = store.release_lapsed(T0 + 140, MAX_ATTEMPTS)
    assert released.requeued == (job.id,)
    assert released.failed == ()
    assert get(store, job).status is Status.QUEUED


def test_heartbeat_extends_the_lease(store: JobStore, account: Account) -> None:
    """A heartbeat moves the lease end so release_lapsed before it does not take the job back."""
    job = submit(store, account)
    claim = claim_one(store, now=T0 + 100)  # lease ends at T0 + 130
    assert store.heartbeat([claim], T0 + 120, LEASE) == set()  # now ends at T0 + 150
    released = store.release_lapsed(T0 + 140, MAX_ATTEMPTS)
    assert released.requeued == ()
    assert released.failed == ()
    assert get(store, job).status is Status.RUNNING
    assert store.set_progress(claim, ProgressRecord(1, 2), T0 + 141) is True
    assert store.release_lapsed(T0 + 160, MAX_ATTEMPTS).requeued == (job.id,)


def test_heartbeat_reports_cancel_requested(store: JobStore, account: Account) -> None:
    """heartbeat returns the job id once a cancel was requested for the job."""
    job = submit(store, account)
    claim = claim_one(store)
    assert store.heartbeat([claim], T0 + 101, LEASE) == set()
    store.request_cancel(account.id, job.id, T0 + 102)
    assert store.heartbeat([claim], T0 + 103, LEASE) == {job.id}


def test_heartbeat_reports_stale_claims(store: JobStore, account: Account) -> None:
    """heartbeat returns the job id when the claim lost its lease, and does not renew it then."""
    job = submit(store, account)
    first = claim_one(store, worker="w1", now=T0 + 100)
    store.release_lapsed(T0 + 200, MAX_ATTEMPTS)
    # Requeued and not yet claimed again.
    assert store.heartbeat([first], T0 + 201, LEASE) == {job.id}
    second = claim_one(store, worker="w2", now=T0 + 300)  # lease ends at T0 + 330
    assert store.heartbeat([first, second], T0 + 310, LEASE) == {job.id}
    assert store.heartbeat([second], T0 + 311, LEASE) == set()  # lease ends at T0 + 341
    # The stale heartbeat far in the future must not have renewed the live lease.
    assert store.heartbeat([first], T0 + 320, 1000.0) == {job.id}
    assert store.release_lapsed(T0 + 345, MAX_ATTEMPTS).requeued == (job.id,)


def test_heartbeat_reports_a_stale_claim_of_the_same_worker(
    store: JobStore, account: Account
) -> None:
    """A claim is fenced by its attempt, so the same worker's older claim is stale too."""
    job = submit(store, account)
    first = claim_one(store, worker="w1", now=T0 + 100)
    store.release_worker("w1", T0 + 101, MAX_ATTEMPTS)
    second = claim_one(store, worker="w1", now=T0 + 102)
    assert second.attempt == 2
    assert store.heartbeat([first, second], T0 + 103, LEASE) == {job.id}
    assert store.set_progress(first, ProgressRecord(1, 2), T0 + 104) is False
    assert store.finish(first, T0 + 105) is None
    assert get(store, job).status is Status.RUNNING


# -- fencing ----------------------------------------------------------------------------------
def test_stale_claim_cannot_change_the_job(store: JobStore) -> None:
    """After a requeue and a reclaim, the first claim's writes are refused and change nothing."""
    credited = store.ensure_account("credited", Decimal(100), T0)
    job = submit(store, credited, cost=10.0)
    first = claim_one(store, worker="w1", now=T0 + 100)
    assert store.set_progress(first, ProgressRecord(1, 4, "warming up"), T0 + 101) is True
    released = store.release_lapsed(T0 + 200, MAX_ATTEMPTS)
    assert released.requeued == (job.id,)
    # Requeued and not claimed yet: the old claim is already fenced off.
    assert store.set_progress(first, ProgressRecord(2, 4), T0 + 200) is False
    assert store.finish(first, T0 + 200, outputs=[output(1)]) is None
    assert get(store, job).status is Status.QUEUED
    second = claim_one(store, worker="w2", now=T0 + 201)
    assert second.attempt == 2
    before = get(store, job)
    assert before.status is Status.RUNNING
    assert before.attempts == 2
    events_before = events(store, job)

    assert store.set_progress(first, ProgressRecord(3, 4, "stale"), T0 + 202) is False
    assert store.add_event(first, EventType.LOG, {"message": "stale"}, T0 + 203) is False
    assert store.finish(first, T0 + 204, outputs=[output(1)], cost_actual=Decimal(10)) is None
    assert store.finish(first, T0 + 205, error=Failure("boom", "stale")) is None
    assert store.finish(first, T0 + 206, canceled=True) is None

    assert get(store, job) == before
    assert events(store, job) == events_before
    assert store.get_account(credited.id) == credited

    assert store.set_progress(second, ProgressRecord(2, 4), T0 + 207) is True
    assert store.add_event(second, EventType.LOG, {"message": "live"}, T0 + 208) is True
    done = store.finish(second, T0 + 209, outputs=[output(2)], cost_actual=Decimal(10))
    assert done is not None
    assert done.status is Status.SUCCEEDED
    assert done.outputs == (output(2),)
    account_after = store.get_account(credited.id)
    assert account_after is not None
    assert account_after.credits == 90.0


# -- finish -----------------------------------------------------------------------------------
def test_finish_success_records_outputs_and_charges_once(store: JobStore) -> None:
    """A successful finish stores outputs, emits output then status events and charges once."""
    payer = store.ensure_account("payer", Decimal(100), T0)
    job = submit(store, payer, cost=10.0)
    claim = claim_one(store, now=T0 + 100)
    store.set_progress(claim, ProgressRecord(2, 4), T0 + 101)
    last_id = events(store, job)[-1].id
    done = store.finish(
        claim,
        T0 + 150,
        outputs=[output(1), output(2)],
        cost_actual=Decimal("7.5"),
        inference_time=42.0,
    )
    assert done is not None
    assert done.status is Status.SUCCEEDED
    assert done.terminal
    assert done.outputs == (output(1), output(2))
    assert done.cost_actual == 7.5
    assert done.inference_time == 42.0
    assert done.finished_at == T0 + 150
    assert done.error is None
    assert get(store, job) == done

    new = events(store, job, last_id)
    assert [e.type for e in new] == [EventType.OUTPUT, EventType.OUTPUT, EventType.STATUS]
    assert new[0].data == output(1).to_dict()
    assert new[1].data == output(2).to_dict()
    assert new[2].data["status"] == "succeeded"

    charged = store.get_account(payer.id)
    assert charged is not None
    assert charged.credits == 92.5

    assert store.finish(claim, T0 + 160, outputs=[output(3)], cost_actual=Decimal("7.5")) is None
    again = store.get_account(payer.id)
    assert again is not None
    assert again.credits == 92.5
    assert get(store, job) == done
    assert events(store, job, last_id) == new


def test_finish_failed_records_error_and_charges_nothing(store: JobStore) -> None:
    """A failed finish records the error code and message and charges nothing."""
    payer = store.ensure_account("payer", Decimal(100), T0)
    job = submit(store, payer, cost=10.0)
    claim = claim_one(store, now=T0 + 100)
    done = store.finish(
        claim, T0 + 150, error=Failure("model_error", "out of memory"), cost_actual=Decimal(10)
    )
    assert done is not None
    assert done.status is Status.FAILED
    assert done.error == Failure("model_error", "out of memory")
    assert done.outputs == ()
    assert done.finished_at == T0 + 150
    assert not done.cost_actual
    assert get(store, job) == done
    last = events(store, job)[-1]
    assert last.type is EventType.STATUS
    assert last.data["status"] == "failed"
    assert store.get_account(payer.id) == payer


def test_finish_canceled_ends_canceled(store: JobStore) -> None:
    """finish with canceled=True ends the job canceled and charges nothing."""
    payer = store.ensure_account("payer", Decimal(100), T0)
    job = submit(store, payer, cost=10.0)
    claim = claim_one(store, now=T0 + 100)
    done = store.finish(claim, T0 + 150, canceled=True, cost_actual=Decimal(10))
    assert done is not None
    assert done.status is Status.CANCELED
    assert done.finished_at == T0 + 150
    assert not done.cost_actual
    assert get(store, job) == done
    assert statuses(store, job)[-1] == "canceled"
    assert store.get_account(payer.id) == payer


def test_finish_records_the_load_time_the_job_waited_for(store: JobStore, account: Account) -> None:
    """finish stores the model's load time of a success or a failure as given, and none
    (null) when the worker had the model loaded already."""
    loaded, failed, warm = submit_many(store, account, 3)
    claims = {claim.job.id: claim for claim in store.claim("w1", ["m"], T0 + 100, LEASE, limit=3)}
    first, second, third = (claims[job.id] for job in (loaded, failed, warm))
    assert first.job.load_time is None
    done = store.finish(first, T0 + 107, load_time=6.2, inference_time=0.069)
    assert done is not None
    assert (done.load_time, done.inference_time) == (6.2, 0.069)
    assert get(store, loaded).load_time == 6.2
    error = Failure("model_load_failed", "OSError: weights not found")
    ended = store.finish(second, T0 + 102, error=error, load_time=1.5)
    assert ended is not None
    assert ended.load_time == 1.5
    assert get(store, failed).load_time == 1.5
    plain = store.finish(third, T0 + 103, inference_time=0.07)
    assert plain is not None
    assert plain.load_time is None
    assert get(store, warm).load_time is None


# -- release_worker / release_lapsed ----------------------------------------------------------
def test_release_worker_requeues_its_running_jobs(store: JobStore, account: Account) -> None:
    """release_worker puts the worker's running jobs back in the queue and leaves others alone."""
    a, b, c = submit_many(store, account, 3)
    mine = store.claim("w1", ["m"], T0 + 100, LEASE, limit=2)
    assert {cl.job.id for cl in mine} == {a.id, b.id}
    theirs = claim_one(store, worker="w2", now=T0 + 101)
    store.set_progress(mine[0], ProgressRecord(2, 4, "half"), T0 + 102)

    released = store.release_worker("w1", T0 + 110, MAX_ATTEMPTS)
    assert sorted(released.requeued) == sorted([a.id, b.id])
    assert released.failed == ()
    for job in (a, b):
        back = get(store, job)
        assert back.status is Status.QUEUED
        assert back.attempts == 1
        assert statuses(store, job) == ["queued", "running", "queued"]
        assert events(store, job)[-1].created_at == T0 + 110
    assert get(store, c).status is Status.RUNNING
    assert store.heartbeat([theirs], T0 + 111, LEASE) == set()

    again = store.claim("w3", ["m"], T0 + 120, LEASE, limit=5)
    assert sorted(cl.job.id for cl in again) == sorted([a.id, b.id])
    assert all(cl.attempt == 2 for cl in again)


def test_release_at_max_attempts_fails_with_worker_lost(store: JobStore) -> None:
    """A job lost max_attempts times fails with error code worker_lost and is not charged."""
    payer = store.ensure_account("payer", Decimal(100), T0)
    job = submit(store, payer, cost=10.0)
    claim_one(store, worker="w1", now=T0 + 100)
    assert store.release_worker("w1", T0 + 101, 2).requeued == (job.id,)
    claim_one(store, worker="w2", now=T0 + 102)
    released = store.release_lapsed(T0 + 500, 2)
    assert released.requeued == ()
    assert released.failed == (job.id,)
    failed = get(store, job)
    assert failed.status is Status.FAILED
    assert failed.attempts == 2
    assert failed.error is not None
    assert failed.error.code == "worker_lost"
    assert failed.finished_at == T0 + 500
    last = events(store, job)[-1]
    assert last.type is EventType.STATUS
    assert last.data["status"] == "failed"
    assert store.claim("w3", ["m"], T0 + 600, LEASE) == []
    assert store.get_account(payer.id) == payer


def test_release_of_cancel_requested_job_ends_canceled(store: JobStore, account: Account) -> None:
    """A running job with a cancel request ends canceled when released, not requeued."""
    lost = submit(store, account, created_at=T0)
    lapsed = submit(store, account, created_at=T0 + 1)
    claim_one(store, worker="w1", now=T0 + 100)
    claim_one(store, worker="w2", now=T0 + 100)
    store.request_cancel(account.id, lost.id, T0 + 101)
    store.request_cancel(account.id, lapsed.id, T0 + 101)

    by_worker = store.release_worker("w1", T0 + 102, MAX_ATTEMPTS)
    assert lost.id not in by_worker.requeued
    assert get(store, lost).status is Status.CANCELED
    assert statuses(store, lost)[-1] == "canceled"

    by_lease = store.release_lapsed(T0 + 1000, MAX_ATTEMPTS)
    assert lapsed.id not in by_lease.requeued
    assert get(store, lapsed).status is Status.CANCELED
    assert statuses(store, lapsed)[-1] == "canceled"
    assert store.claim("w3", ["m"], T0 + 1001, LEASE) == []


def test_release_leaves_queued_and_terminal_jobs_alone(store: JobStore, account: Account) -> None:
    """release_worker and release_lapsed do not touch queued or terminal jobs."""
    ok, bad, gone, waiting = submit_many(store, account, 4)
    c_ok, c_bad, c_gone = store.claim("w1", ["m"], T0 + 100, LEASE, limit=3)
    store.finish(c_ok, T0 + 101, outputs=[output(1)])
    store.finish(c_bad, T0 + 101, error=Failure("e", "m"))
    store.finish(c_gone, T0 + 101, canceled=True)
    before = {j.id: (get(store, j), events(store, j)) for j in (ok, bad, gone, waiting)}

    assert store.release_worker("w1", T0 + 200, MAX_ATTEMPTS) == store.release_lapsed(
        T0 + 10_000, 1
    )
    assert store.release_worker("w1", T0 + 200, 1).requeued == ()
    assert store.release_worker("w-unknown", T0 + 200, 1) == Released((), ())
    assert store.release_lapsed(T0 + 10_000, MAX_ATTEMPTS).failed == ()
    after = {j.id: (get(store, j), events(store, j)) for j in (ok, bad, gone, waiting)}
    assert after == before


def test_release_lapsed_takes_back_only_lapsed_leases(store: JobStore, account: Account) -> None:
    """release_lapsed requeues jobs whose lease has ended and keeps the others running."""
    short, long = submit_many(store, account, 2)
    store.claim("w1", ["m"], T0 + 100, 10.0)
    store.claim("w1", ["m"], T0 + 100, 100.0)
    released = store.release_lapsed(T0 + 150, MAX_ATTEMPTS)
    assert released.requeued == (short.id,)
    assert get(store, short).status is Status.QUEUED
    assert get(store, long).status is Status.RUNNING


# -- request_cancel / cancel_running ----------------------------------------------------------
def test_request_cancel_of_queued_job_cancels_it(store: JobStore, account: Account) -> None:
    """request_cancel ends a queued job canceled at once, with a terminal status event."""
    job = submit(store, account)
    canceled = store.request_cancel(account.id, job.id, T0 + 10)
    assert canceled is not None
    assert canceled.status is Status.CANCELED
    assert canceled.terminal
    assert canceled.finished_at == T0 + 10
    assert get(store, job) == canceled
    assert statuses(store, job) == ["queued", "canceled"]
    assert store.claim("w1", ["m"], T0 + 20, LEASE) == []


def test_request_cancel_of_running_job_flags_it(store: JobStore, account: Account) -> None:
    """request_cancel on a running job sets cancel_requested and leaves it running."""
    job = submit(store, account)
    claim = claim_one(store)
    flagged = store.request_cancel(account.id, job.id, T0 + 110)
    assert flagged is not None
    assert flagged.status is Status.RUNNING
    assert flagged.cancel_requested is True
    assert get(store, job) == flagged
    assert statuses(store, job) == ["queued", "running"]
    again = store.request_cancel(account.id, job.id, T0 + 111)
    assert again is not None
    assert again.status is Status.RUNNING
    assert again.cancel_requested is True
    done = store.finish(claim, T0 + 120, canceled=True)
    assert done is not None
    assert done.status is Status.CANCELED


def test_request_cancel_of_terminal_job_leaves_it(store: JobStore, account: Account) -> None:
    """request_cancel returns a terminal job unchanged."""
    job = submit(store, account)
    claim = claim_one(store)
    done = store.finish(claim, T0 + 120, outputs=[output(1)])
    assert done is not None
    evs = events(store, job)
    result = store.request_cancel(account.id, job.id, T0 + 130)
    assert result == done
    assert get(store, job) == done
    assert events(store, job) == evs


def test_request_cancel_of_another_accounts_job_is_none(
    store: JobStore, account: Account, other: Account
) -> None:
    """request_cancel returns None for another account's job and leaves it alone."""
    job = submit(store, account)
    assert store.request_cancel(other.id, job.id, T0 + 10) is None
    assert store.request_cancel(account.id, "job_nope", T0 + 10) is None
    assert get(store, job) == job


def test_cancel_running_ends_a_running_job_canceled(store: JobStore, account: Account) -> None:
    """cancel_running ends a running job canceled, after which its claim can no longer write."""
    job = submit(store, account)
    claim = claim_one(store)
    store.request_cancel(account.id, job.id, T0 + 110)
    canceled = store.cancel_running(job.id, T0 + 120)
    assert canceled is not None
    assert canceled.status is Status.CANCELED
    assert canceled.finished_at == T0 + 120
    assert get(store, job) == canceled
    assert statuses(store, job)[-1] == "canceled"
    assert store.finish(claim, T0 + 130, outputs=[output(1)]) is None
    assert get(store, job) == canceled


def test_cancel_running_does_nothing_to_a_terminal_job(store: JobStore, account: Account) -> None:
    """cancel_running leaves a terminal job as it is."""
    job = submit(store, account)
    done = store.finish(claim_one(store), T0 + 120, error=Failure("e", "m"))
    assert done is not None
    evs = events(store, job)
    result = store.cancel_running(job.id, T0 + 130)
    assert result is None or result == done
    assert get(store, job) == done
    assert events(store, job) == evs


# -- delete_job -------------------------------------------------------------------------------
def test_delete_job_removes_job_and_events(store: JobStore, account: Account) -> None:
    """delete_job returns the job and removes it and its events."""
    job = submit(store, account)
    keep = submit(store, account, created_at=T0 + 1)
    done = store.finish(claim_one(store), T0 + 120, outputs=[output(1)])
    assert done is not None
    deleted = store.delete_job(account.id, job.id, T0 + 130)
    assert deleted == done
    assert store.get_job(account.id, job.id, T0 + 130) is None
    assert store.get_job_any_account(job.id, T0 + 130) is None
    assert store.events_after(job.id, 0) == []
    assert [j.id for _, j in store.list_jobs(account.id, T0 + 130, limit=10)] == [keep.id]
    assert len(events(store, keep)) == 1
    assert store.delete_job(account.id, job.id, T0 + 140) is None


def test_delete_job_of_another_account_is_none(
    store: JobStore, account: Account, other: Account
) -> None:
    """delete_job returns None for another account's job and keeps it."""
    job = submit(store, account)
    assert store.delete_job(other.id, job.id, T0 + 10) is None
    assert get(store, job) == job
    assert len(events(store, job)) == 1


# -- events_after -----------------------------------------------------------------------------
def test_events_after_returns_events_in_id_order(store: JobStore, account: Account) -> None:
    """events_after returns one job's events in id order, after the given id, up to the limit."""
    job = submit(store, account)
    noise = submit(store, account, model="other", created_at=T0 + 1)
    claim = claim_one(store)
    (noise_claim,) = store.claim("w2", ["other"], T0 + 100, LEASE)
    for i in range(3):
        assert store.add_event(claim, EventType.LOG, {"message": f"line {i}"}, T0 + 110 + i)
        assert store.add_event(noise_claim, EventType.LOG, {"message": "noise"}, T0 + 110 + i)
    assert store.set_progress(claim, ProgressRecord(1, 2, "half"), T0 + 120)

    evs = events(store, job)
    assert all(e.job_id == job.id for e in evs)
    ids = [e.id for e in evs]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert [e.type for e in evs] == [
        EventType.STATUS,
        EventType.STATUS,
        EventType.LOG,
        EventType.LOG,
        EventType.LOG,
        EventType.PROGRESS,
    ]
    assert [e.data["message"] for e in evs[2:5]] == ["line 0", "line 1", "line 2"]
    assert evs[5].data["step"] == 1
    assert evs[5].data["total"] == 2
    assert [e.created_at for e in evs[2:]] == [T0 + 110, T0 + 111, T0 + 112, T0 + 120]
    assert store.events_after(job.id, evs[1].id) == evs[2:]
    assert store.events_after(job.id, evs[2].id, limit=2) == evs[3:5]
    assert store.events_after(job.id, evs[-1].id) == []
    assert store.events_after("job_nope", 0) == []
    assert all(e.job_id == noise.id for e in events(store, noise))


# -- queue_position ---------------------------------------------------------------------------
def test_queue_position_counts_queued_jobs_ahead(store: JobStore, account: Account) -> None:
    """queue_position counts queued jobs of the same model with higher priority or earlier."""
    a = submit(store, account, priority=0, created_at=T0)
    b = submit(store, account, priority=0, created_at=T0 + 1)
    c = submit(store, account, priority=5, created_at=T0 + 2)
    d = submit(store, account, priority=9, model="other", created_at=T0 + 3)
    e = submit(store, account, priority=0, created_at=T0 + 4)
    assert store.queue_position(c) == 0
    assert store.queue_position(a) == 1
    assert store.queue_position(b) == 2
    assert store.queue_position(e) == 3
    assert store.queue_position(d) == 0
    claim_one(store)  # c runs: it no longer counts
    store.request_cancel(account.id, a.id, T0 + 101)  # a is canceled: it no longer counts
    assert store.queue_position(b) == 0
    assert store.queue_position(e) == 1


# -- expire -----------------------------------------------------------------------------------
def test_expire_removes_jobs_past_retention(store: JobStore, account: Account) -> None:
    """expire deletes and returns non-running jobs past expires_at, with their events."""
    done_old = submit(store, account, expires_at=T0 + 500)
    queued_old = submit(store, account, created_at=T0 + 1, expires_at=T0 + 500)
    fresh = submit(store, account, created_at=T0 + 2, expires_at=T0 + 5000)
    claim = claim_one(store, now=T0 + 100)
    assert claim.job.id == done_old.id
    assert store.finish(claim, T0 + 101, outputs=[output(1)]) is not None

    retired = store.expire(T0 + 1000)
    assert retired.stopping == ()
    assert {j.id: j.status for j in retired.removed} == {
        done_old.id: Status.SUCCEEDED,
        queued_old.id: Status.QUEUED,
    }
    for job in (done_old, queued_old):
        assert store.get_job_any_account(job.id, T0) is None
        assert store.events_after(job.id, 0) == []
    assert get(store, fresh, T0 + 1000) == fresh
    assert len(events(store, fresh)) == 1
    assert store.expire(T0 + 1000).removed == ()


def test_expire_flags_running_jobs_instead_of_removing_them(
    store: JobStore, account: Account
) -> None:
    """expire keeps a running job past expires_at, sets its cancel_requested flag and names it
    (once) among the jobs to stop."""
    job = submit(store, account, expires_at=T0 + 500)
    claim = claim_one(store, now=T0 + 100)
    assert store.heartbeat([claim], T0 + 400, 1000.0) == set()
    first = store.expire(T0 + 1000)
    assert (first.removed, first.stopping) == ((), (job.id,))
    assert store.expire(T0 + 1000).stopping == ()
    flagged = store.get_job_any_account(job.id, T0 + 400)
    assert flagged is not None
    assert flagged.status is Status.RUNNING
    assert flagged.cancel_requested is True
    assert len(store.events_after(job.id, 0)) >= 2
    assert store.heartbeat([claim], T0 + 1001, 1000.0) == {job.id}
    assert store.finish(claim, T0 + 1002, canceled=True) is not None
    removed = store.expire(T0 + 1003).removed
    assert [j.id for j in removed] == [job.id]
    assert removed[0].status is Status.CANCELED
    assert store.events_after(job.id, 0) == []


# -- opening and migrations -------------------------------------------------------------------
def test_reopening_the_same_database_keeps_its_data(open_db: Callable[[], JobStore]) -> None:
    """A second handle on the same database opens cleanly and sees the first one's data."""
    first = open_db()
    account = first.ensure_account("alice", Decimal(3), T0)
    job = submit(first, account)
    second = open_db()
    assert second.ensure_account("alice", Decimal(99), T0 + 1) == account
    assert second.get_job(account.id, job.id, T0 + 1) == job
    assert second.events_after(job.id, 0) == first.events_after(job.id, 0)


def test_open_store_rejects_unknown_urls() -> None:
    """open_store raises ConfigError for a URL it does not support."""
    with pytest.raises(ConfigError):
        open_store("mysql://localhost/genq")


def test_a_cancel_that_races_the_end_wins(store: JobStore) -> None:
    """A success reported after cancel was requested ends canceled, without outputs or charge."""
    payer = store.ensure_account("racer", Decimal(10), T0)
    job = store.submit(new_job(payer, cost=2.0)).job
    claim = claim_one(store)
    store.request_cancel(payer.id, job.id, T0 + 150)
    done = store.finish(claim, T0 + 160, outputs=[output(1)], cost_actual=Decimal(2))
    assert done is not None
    assert done.status is Status.CANCELED
    assert done.outputs == ()
    assert done.cost_actual == 0
    assert store.get_account(payer.id).credits == 10.0  # type: ignore[union-attr]
    assert [e.type for e in events(store, job)][-1] is EventType.STATUS


def test_the_charge_never_exceeds_the_estimate(store: JobStore) -> None:
    """An actual cost above the estimate is charged (and recorded) as the estimate."""
    payer = store.ensure_account("capped", Decimal(1), T0)
    store.submit(new_job(payer, cost=0.5))
    done = store.finish(claim_one(store), T0 + 160, cost_actual=Decimal("0.8"))
    assert done is not None
    assert done.cost_actual == 0.5
    assert store.get_account(payer.id).credits == Decimal("0.5")  # type: ignore[union-attr]


def test_unfinished_jobs_hold_their_estimate(store: JobStore) -> None:
    """Queued and running jobs hold their estimate against the balance; ending frees it."""
    payer = store.ensure_account("holder", Decimal(1), T0)
    store.submit(new_job(payer, cost=0.4))
    store.submit(new_job(payer, cost=0.4))
    with pytest.raises(OutOfCredits) as caught:
        store.submit(new_job(payer, cost=0.4))
    assert caught.value.details["held"] == 0.8
    claim = claim_one(store)
    assert store.finish(claim, T0 + 150, error=Failure("model_error", "x")) is not None
    assert store.submit(new_job(payer, cost=0.4)).created is True


def test_small_charges_add_up_exactly(store: JobStore) -> None:
    """An account with 0.001 credits that ran ten 0.0001 jobs has exactly 0 left, and an
    eleventh job is refused (402)."""
    payer = store.ensure_account("exact", Decimal("0.001"), T0)
    for i in range(10):
        submit(store, payer, cost=Decimal("0.0001"), created_at=T0 + i)
        claim = claim_one(store, now=T0 + 100 + i)
        done = store.finish(claim, T0 + 101 + i, cost_actual=Decimal("0.0001"))
        assert done is not None
        assert done.cost_actual == Decimal("0.0001")
    account = store.get_account(payer.id)
    assert account is not None
    assert account.credits == Decimal(0)
    with pytest.raises(OutOfCredits) as refused:
        store.submit(new_job(payer, cost=Decimal("0.0001"), created_at=T0 + 20))
    assert refused.value.status_code == 402
    assert refused.value.details == {"estimate": 0.0001, "balance": 0, "held": 0, "available": 0}
    assert "estimated cost 0.0001 exceeds the available balance 0 " in refused.value.message


def test_concurrent_sweepers_retire_each_job_once(open_db: Callable[[], JobStore]) -> None:
    """Several processes sweeping at once: each expired job is removed (and its files handed
    back for deletion) by exactly one of them, and lapsed leases are taken back once."""
    store = open_db()
    account = store.ensure_account("alice", None, T0)
    expired = submit_many(store, account, 40, expires_at=T0 + 500)
    running = submit_many(store, account, 6, expires_at=T0 + 5000, priority=5)
    for _ in running:
        claim_one(store, now=T0 + 100)
    handles = [open_db() for _ in range(4)]
    removed: list[list[str]] = [[] for _ in handles]
    requeued: list[list[str]] = [[] for _ in handles]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(handles))

    def sweep(n: int) -> None:
        try:
            barrier.wait()
            released = handles[n].release_lapsed(T0 + 1000, MAX_ATTEMPTS)
            requeued[n].extend(released.requeued)
            removed[n].extend(j.id for j in handles[n].expire(T0 + 1000).removed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(n,)) for n in range(len(handles))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    all_removed = [job_id for ids in removed for job_id in ids]
    assert sorted(all_removed) == sorted(j.id for j in expired)
    all_requeued = [job_id for ids in requeued for job_id in ids]
    assert sorted(all_requeued) == sorted(j.id for j in running)
    for job in running:
        assert statuses(store, job) == ["queued", "running", "queued"]
