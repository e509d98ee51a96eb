"""An account's limits in the store, on each engine: the cap on queued jobs a submit meets in
its own transaction (exact, under concurrent submits from two handles), the bytes a finished
job's outputs hold until it is deleted or retired, and setting an account's weight and limits.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from genq.account_limits import AccountUsage
from genq.errors import Forbidden, TooManyRequests
from genq.jobs import Account, Failure, OutputRecord, Status
from genq.store import JobStore, NewJob
from genq.store.postgres import PostgresStore
from genq.store.sqlite import SQLiteStore
from tests.pg import empty_schema, hand_back, store_url

T0 = 1_700_000_000.0
DAY = 86_400.0
_ids = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def open_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], JobStore]]:
    """Open handles on one database per test (as two API processes would)."""
    schema = None if request.param == "sqlite" else empty_schema()
    opened: list[JobStore] = []

    def open_() -> JobStore:
        store: JobStore = (
            SQLiteStore(tmp_path / "genq.db")
            if schema is None
            else PostgresStore(store_url(schema))
        )
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()
    if schema is not None:
        hand_back(schema)


@pytest.fixture
def store(open_db: Callable[[], JobStore]) -> JobStore:
    return open_db()


def new_job(account: Account, **more: object) -> NewJob:
    fields: dict[str, object] = dict(
        id=f"job_{next(_ids):06d}",
        account_id=account.id,
        model="noop",
        input={},
        priority=0,
        metadata={},
        cost_estimate=Decimal(0),
        created_at=T0,
        expires_at=T0 + DAY,
    )
    fields.update(more)
    return NewJob(**fields)  # type: ignore[arg-type]


def refused_queued(store: JobStore, job: NewJob) -> dict[str, int]:
    with pytest.raises(TooManyRequests) as refused:
        store.submit(job)
    assert refused.value.code == "too_many_queued"
    assert refused.value.status_code == 429
    details: dict[str, int] = refused.value.details
    return details


def test_the_job_past_the_accounts_own_cap_is_refused(store: JobStore) -> None:
    """With max_queued 3, three jobs queue and the fourth is refused with what is queued and
    allowed; once one starts, a job queues again."""
    account = store.ensure_account("capped", None, T0)
    store.set_account_limits(account.id, {"max_queued": 3})
    for _ in range(3):
        assert store.submit(new_job(account)).created
    details = refused_queued(store, new_job(account))
    assert details == {"queued": 3, "max_queued": 3, "submitted": 1}
    assert len(store.claim("w1", ["noop"], T0, 30.0)) == 1
    assert store.submit(new_job(account)).created
    refused_queued(store, new_job(account))


def test_the_default_cap_applies_unless_the_account_has_its_own(store: JobStore) -> None:
    """The configured default (max_queued_default) caps an account without its own; an
    account's 0 lifts any cap, and its own value wins over the default."""
    plain = store.ensure_account("plain", None, T0)
    free = store.ensure_account("free", None, T0)
    store.set_account_limits(free.id, {"max_queued": 0})
    roomy = store.ensure_account("roomy", None, T0)
    store.set_account_limits(roomy.id, {"max_queued": 3})
    for account, allowed in ((plain, 2), (free, 5), (roomy, 3)):
        for _ in range(allowed):
            assert store.submit(new_job(account, max_queued_default=2)).created
    refused_queued(store, new_job(plain, max_queued_default=2))
    refused_queued(store, new_job(roomy, max_queued_default=2))
    # Without a default, only the account's own value caps it.
    assert store.submit(new_job(plain)).created


def test_a_capped_account_with_credits_is_held_by_both(store: JobStore) -> None:
    """An account with a balance and a cap meets both checks in the one locked transaction."""
    account = store.ensure_account("both", Decimal(10), T0)
    store.set_account_limits(account.id, {"max_queued": 1})
    assert store.submit(new_job(account, cost_estimate=Decimal(4))).created
    refused_queued(store, new_job(account, cost_estimate=Decimal(4)))
    assert store.held(account.id) == Decimal(4)


def test_an_idempotent_replay_at_the_cap_returns_its_job(store: JobStore) -> None:
    """A replay makes no job: it answers the original even when the account is at its cap."""
    account = store.ensure_account("replay", None, T0)
    store.set_account_limits(account.id, {"max_queued": 1})
    first = new_job(account, idempotency_key="k1", fingerprint="f")
    assert store.submit(first).created
    again = store.submit(new_job(account, idempotency_key="k1", fingerprint="f"))
    assert not again.created
    assert again.job.id == first.id


def test_a_group_submit_is_all_or_none_under_the_cap(store: JobStore) -> None:
    """Jobs submitted together either all fit under the cap or none is queued."""
    account = store.ensure_account("group", None, T0)
    store.set_account_limits(account.id, {"max_queued": 4})
    assert len(store.submit_many([new_job(account) for _ in range(3)])) == 3
    with pytest.raises(TooManyRequests) as refused:
        store.submit_many([new_job(account) for _ in range(2)])
    assert refused.value.details == {"queued": 3, "max_queued": 4, "submitted": 2}
    assert store.account_usage(account.id, T0).queued == 3
    assert len(store.submit_many([new_job(account)])) == 1


def test_concurrent_submits_never_pass_the_cap(open_db: Callable[[], JobStore]) -> None:
    """Eight threads on two handles (two API processes) submit 60 jobs at once: exactly
    the cap of 20 is queued, and every other submit is refused."""
    first, second = open_db(), open_db()
    account = first.ensure_account("racer", None, T0)
    first.set_account_limits(account.id, {"max_queued": 20})
    created: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def submit(store: JobStore) -> None:
        start.wait()
        for _ in range(60 // 8 + 1):
            job = new_job(account)
            try:
                store.submit(job)
            except TooManyRequests:
                with lock:
                    refused.append(job.id)
            else:
                with lock:
                    created.append(job.id)

    threads = [threading.Thread(target=submit, args=((first, second)[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == 20
    assert len(refused) == 8 * (60 // 8 + 1) - 20
    assert first.account_usage(account.id, T0).queued == 20


def finished(store: JobStore, account: Account, sizes: list[int], **more: object) -> str:
    job = new_job(account)
    store.submit(job)
    (claim,) = store.claim("w1", ["noop"], T0, 30.0)
    outputs = [
        OutputRecord(f"{job.id}/{i}", "text/plain", size, "0" * 64) for i, size in enumerate(sizes)
    ]
    done = store.finish(claim, T0 + 1, outputs=outputs, **more)  # type: ignore[arg-type]
    assert done is not None
    return job.id


def test_a_finished_jobs_outputs_count_until_it_is_deleted(store: JobStore) -> None:
    """A success's (and a failure's) outputs count in output_bytes and the account's stored
    bytes; a canceled job keeps none; deleting a job frees its bytes."""
    account = store.ensure_account("bytes", None, T0)
    kept = finished(store, account, [100, 23])
    job = store.get_job(account.id, kept, T0 + 2)
    assert job is not None
    assert job.output_bytes == 123
    finished(store, account, [7], error=Failure("model_error", "boom"))
    canceled = finished(store, account, [50], canceled=True)
    job = store.get_job(account.id, canceled, T0 + 2)
    assert job is not None
    assert job.status is Status.CANCELED
    assert job.output_bytes == 0
    assert store.stored_bytes(account.id, T0 + 2) == 130
    assert store.account_usage(account.id, T0 + 2) == AccountUsage(0, 0, 130)
    store.delete_job(account.id, kept, T0 + 2)
    assert store.stored_bytes(account.id, T0 + 2) == 7


def test_retired_jobs_stop_counting(store: JobStore) -> None:
    """Jobs past their retention count no more, and the sweep removes them."""
    account = store.ensure_account("retired", None, T0)
    finished(store, account, [1000])
    assert store.stored_bytes(account.id, T0 + 2) == 1000
    assert store.stored_bytes(account.id, T0 + DAY) == 0
    assert len(store.expire(T0 + DAY).removed) == 1
    assert store.accounts_usage(T0) == {}


def test_usage_counts_queued_running_and_stored(store: JobStore) -> None:
    """account_usage and accounts_usage count each account's queued and running jobs and its
    stored bytes."""
    one = store.ensure_account("one", None, T0)
    two = store.ensure_account("two", None, T0)
    finished(store, one, [10])
    for _ in range(3):
        store.submit(new_job(one))
    store.submit(new_job(two))
    # Two claims: one of each account (``one`` has had its share already: ``two`` goes first).
    store.claim("w1", ["noop"], T0, 30.0)
    store.claim("w1", ["noop"], T0, 30.0)
    assert store.account_usage(one.id, T0) == AccountUsage(queued=2, running=1, stored_bytes=10)
    assert store.accounts_usage(T0) == {
        one.id: AccountUsage(2, 1, 10),
        two.id: AccountUsage(0, 1, 0),
    }
    assert store.account_usage("acct_none", T0) == AccountUsage()


def test_setting_an_accounts_weight_and_limits(store: JobStore) -> None:
    """Each value is set alone, the others kept; None puts a limit back to the default and
    the weight back to 1; an unknown account is None."""
    account = store.ensure_account("tuned", None, T0)
    assert account.weight == 1.0
    changed = store.set_account_limits(
        account.id,
        {
            "weight": 2.5,
            "max_running": 2,
            "max_queued": 0,
            "rate_per_second": 1.5,
            "rate_burst": 4,
            "storage_quota_bytes": 3 * 2**40,
        },
    )
    assert changed is not None
    assert changed.weight == 2.5
    assert changed.limits.max_running == 2
    assert changed.limits.max_queued == 0
    assert changed.limits.rate_per_second == 1.5
    assert changed.limits.rate_burst == 4
    assert changed.limits.storage_quota_bytes == 3 * 2**40
    again = store.set_account_limits(account.id, {"weight": None, "max_running": None})
    assert again is not None
    assert again.weight == 1.0
    assert again.limits.max_running is None
    assert again.limits.rate_burst == 4
    assert store.set_account_limits(account.id, {}) == again
    assert store.set_account_limits("acct_none", {"max_queued": 1}) is None


def test_a_submit_over_quota_is_refused_unless_it_replays(store: JobStore) -> None:
    """A new job marked over quota is refused with 403 quota_exceeded and the figures; a
    replay of a job the submit made already answers that job."""
    account = store.ensure_account("full", None, T0)
    first = new_job(account, idempotency_key="k1", fingerprint="f")
    assert store.submit(first).created
    replay = store.submit(
        new_job(account, idempotency_key="k1", fingerprint="f", over_quota=(9, 5))
    )
    assert (replay.created, replay.job.id) == (False, first.id)
    with pytest.raises(Forbidden) as refused:
        store.submit(new_job(account, over_quota=(9, 5)))
    assert refused.value.code == "quota_exceeded"
    assert refused.value.details == {"used_bytes": 9, "quota_bytes": 5}
