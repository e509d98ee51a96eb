"""The behavioural contract of ``JobStore``, run against every implementation.

Each factory in ``STORE_FACTORIES`` takes a test's ``tmp_path`` and returns an open store;
calling it twice with the same directory must open a second handle on the *same* database
(the reopen and cross-connection tests rely on that). A new implementation (PostgreSQL, say)
only has to add its factory to the list.

Time is never slept: every call gets an explicit ``now``, counted from ``T0``.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from genq.errors import ConfigError, Conflict, InsufficientCredits
from genq.jobs import (
    Account,
    Claim,
    Event,
    EventType,
    Job,
    JobError,
    JobStatus,
    Output,
    Progress,
)
from genq.store import JobStore, NewJob, open_store
from genq.store.sqlite import SCHEMA_VERSION, SQLiteStore

StoreFactory = Callable[[Path], JobStore]


def sqlite_store(directory: Path) -> JobStore:
    return SQLiteStore(directory / "genq.db")


STORE_FACTORIES = [
    pytest.param(sqlite_store, id="sqlite"),
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
    cost: float = 0.0,
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
        cost_estimate=cost,
        created_at=created_at,
        expires_at=created_at + DAY if expires_at is None else expires_at,
        idempotency_key=key,
        fingerprint=fingerprint,
    )


def submit(store: JobStore, account: Account, **kwargs: Any) -> Job:
    submitted = store.submit(new_job(account, **kwargs))
    assert submitted.created
    return submitted.job


def submit_many(store: JobStore, account: Account, n: int, **kwargs: Any) -> list[Job]:
    start = kwargs.pop("created_at", T0)
    return [submit(store, account, created_at=start + i, **kwargs) for i in range(n)]


def claim_one(
    store: JobStore, worker: str = "w1", now: float = T0 + 100, models: Sequence[str] = ("m",)
) -> Claim:
    claims = store.claim(worker, models, now, LEASE)
    assert len(claims) == 1
    return claims[0]


def get(store: JobStore, job: Job, now: float = T0 + 100) -> Job:
    found = store.get_job(job.account_id, job.id, now)
    assert found is not None
    return found


def events(store: JobStore, job: Job, after: int = 0) -> list[Event]:
    return store.events_after(job.id, after)


def statuses(store: JobStore, job: Job) -> list[str]:
    return [e.data["status"] for e in events(store, job) if e.type is EventType.STATUS]


def output(n: int) -> Output:
    return Output(
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
    first = store.ensure_account("alice", 10.0, T0)
    again = store.ensure_account("alice", 999.0, T0 + 50)
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
    assert store.find_key("hash-1") == key
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


def test_key_updates_return_false_for_unknown_ids(store: JobStore, account: Account) -> None:
    """set_key_disabled and delete_key return False when no key has the id."""
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    assert store.set_key_disabled("key_nope", True) is False
    assert store.delete_key("key_nope") is False
    assert store.find_key("h1") is not None


def test_disabled_key_is_still_found(store: JobStore, account: Account) -> None:
    """A disabled key is still returned by find_key, with disabled=True, and can be re-enabled."""
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    assert store.set_key_disabled("key_1", True) is True
    found = store.find_key("h1")
    assert found is not None
    assert found.disabled is True
    assert [k.disabled for k in store.list_keys()] == [True]
    assert store.set_key_disabled("key_1", False) is True
    found = store.find_key("h1")
    assert found is not None
    assert found.disabled is False


def test_delete_key_removes_it(store: JobStore, account: Account) -> None:
    """delete_key removes the key for good, and a second delete returns False."""
    store.create_key("key_1", account.id, None, "h1", "p1", T0)
    store.create_key("key_2", account.id, None, "h2", "p2", T0)
    assert store.delete_key("key_1") is True
    assert store.find_key("h1") is None
    assert [k.id for k in store.list_keys()] == ["key_2"]
    assert store.delete_key("key_1") is False


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
    assert job.status is JobStatus.QUEUED
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
    assert job.progress == Progress()
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


def test_submit_same_key_other_fingerprint_conflicts(store: JobStore, account: Account) -> None:
    """The same idempotency key with another fingerprint raises Conflict idempotency_conflict."""
    first = submit(store, account, key="k1", fingerprint="fp1")
    with pytest.raises(Conflict) as caught:
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
    c = store.submit(new_job(other, key="k1", fingerprint="fp-other"))
    assert c.created is False or c.job.id == b.job.id  # placeholder, replaced below
