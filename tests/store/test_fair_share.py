"""Fair shares of worker time in the claim, on both engines (``genq.store.fair``): a small
account's jobs start ahead of a large backlog; weighted accounts share in proportion;
priorities still come first; aging lifts a long wait; an account at its running cap waits;
a batch still fills from one account."""

from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal

from genq.jobs import Account, Claim
from genq.store import JobStore, Scheduling
from tests.store.test_store_contract import LEASE, T0, new_job

#: Each job charged one second at its claim and found to run one second: no correction.
ONE = Scheduling(charge=1.0, aging_seconds=0)


def account(store: JobStore, name: str, weight: float = 1.0) -> Account:
    made = store.ensure_account(name, None, T0)
    if weight != 1.0:
        assert store.set_account_limits(made.id, {"weight": weight}) is not None
    return made


def queue(store: JobStore, owner: Account, n: int, **kwargs: object) -> list[str]:
    return [store.submit(new_job(owner, **kwargs)).job.id for _ in range(n)]  # type: ignore[arg-type]


def vtime(store: JobStore, owner: Account) -> float:
    row = store._db.one("SELECT vtime FROM accounts WHERE id = :id", {"id": owner.id})  # type: ignore[attr-defined]
    assert row is not None
    return float(row["vtime"])


def run_one(store: JobStore, now: float, scheduling: Scheduling = ONE) -> Claim | None:
    """Claim one job and finish it a second later; the claim."""
    claims = store.claim("w1", ["m"], now, LEASE, scheduling=scheduling)
    if not claims:
        return None
    [claim] = claims
    assert store.finish(claim, now + 1.0) is not None
    return claim


def test_a_small_account_starts_ahead_of_a_backlog(fresh_store: JobStore) -> None:
    """A queues 60 jobs and has run two, then B queues 5: B runs the two it is behind at
    once, then the two alternate: B's jobs all start within the next eight, one in every two,
    whatever A's backlog."""
    a, b = account(fresh_store, "a"), account(fresh_store, "b")
    queue(fresh_store, a, 60)
    run_one(fresh_store, T0 + 1)
    run_one(fresh_store, T0 + 3)
    mine = queue(fresh_store, b, 5, created_at=T0 + 4)
    order = []
    for n in range(8):
        claim = run_one(fresh_store, T0 + 5 + 2 * n)
        assert claim is not None
        order.append(claim.job.id in mine)
    assert order == [True, True, False, True, False, True, False, True]


def test_weights_share_worker_time_in_proportion(fresh_store: JobStore) -> None:
    """Two saturating accounts of weights 3 and 1 get 3:1 of the claims."""
    heavy, light = account(fresh_store, "heavy", 3.0), account(fresh_store, "light")
    queue(fresh_store, heavy, 40)
    queue(fresh_store, light, 40)
    taken = Counter(
        claim.job.account_id
        for n in range(40)
        if (claim := run_one(fresh_store, T0 + 1 + 2 * n)) is not None
    )
    assert taken == {heavy.id: 30, light.id: 10}


def test_worker_time_is_what_counts_not_jobs(fresh_store: JobStore) -> None:
    """An account whose jobs run three times as long gets a third of the claims: each end
    corrects its claim's charge to the time it ran."""
    slow, quick = account(fresh_store, "slow"), account(fresh_store, "quick")
    queue(fresh_store, slow, 30)
    queue(fresh_store, quick, 30)
    now = T0 + 1
    taken: Counter[str] = Counter()
    for _ in range(24):
        [claim] = fresh_store.claim("w1", ["m"], now, LEASE, scheduling=ONE)
        ran = 3.0 if claim.job.account_id == slow.id else 1.0
        now += ran
        assert fresh_store.finish(claim, now) is not None
        taken[claim.job.account_id] += 1
    assert taken == {slow.id: 6, quick.id: 18}


def test_a_higher_priority_jumps_every_share(fresh_store: JobStore) -> None:
    a, b = account(fresh_store, "a"), account(fresh_store, "b")
    queue(fresh_store, a, 5)
    run_one(fresh_store, T0 + 1)
    queue(fresh_store, b, 5)
    [urgent] = queue(fresh_store, a, 1, priority=10, created_at=T0 + 2)
    claim = run_one(fresh_store, T0 + 3)
    assert claim is not None
    assert claim.job.id == urgent


def test_aging_lifts_a_long_wait_to_the_top_level(fresh_store: JobStore) -> None:
    """A priority -5 job waits behind priority 0 work; after five aging steps it stands level
    with it, and its account's share takes it next."""
    busy, patient = account(fresh_store, "busy"), account(fresh_store, "patient")
    queue(fresh_store, busy, 20)
    [low] = queue(fresh_store, patient, 1, priority=-5)
    aging = Scheduling(charge=1.0, aging_seconds=10.0)
    for n in range(3):
        claim = run_one(fresh_store, T0 + 1 + n, aging)
        assert claim is not None
        assert claim.job.account_id == busy.id
    claim = run_one(fresh_store, T0 + 50, aging)
    assert claim is not None
    assert claim.job.id == low


def test_an_account_at_its_running_cap_waits(fresh_store: JobStore) -> None:
    """With a cap of one running job (its own, or the default), its second job is not taken
    while the first runs; another account's is; when the first ends, the second is taken."""
    capped, other = account(fresh_store, "capped"), account(fresh_store, "other")
    assert fresh_store.set_account_limits(capped.id, {"max_running": 1}) is not None
    queue(fresh_store, capped, 3)
    queue(fresh_store, other, 1)
    [first] = fresh_store.claim("w1", ["m"], T0 + 1, LEASE, scheduling=ONE)
    assert first.job.account_id == capped.id
    taken = fresh_store.claim("w2", ["m"], T0 + 1, LEASE, limit=3, scheduling=ONE)
    assert [c.job.account_id for c in taken] == [other.id]
    assert fresh_store.claim("w3", ["m"], T0 + 1, LEASE, scheduling=ONE) == []
    assert fresh_store.finish(first, T0 + 2) is not None
    [second] = fresh_store.claim("w3", ["m"], T0 + 2, LEASE, scheduling=ONE)
    assert second.job.account_id == capped.id
    # The default cap, for an account with none of its own.
    plain = account(fresh_store, "plain")
    queue(fresh_store, plain, 2)
    by_default = Scheduling(charge=1.0, max_running_default=1)
    taken = fresh_store.claim("w4", ["m"], T0 + 3, LEASE, limit=5, scheduling=by_default)
    assert [c.job.account_id for c in taken] == [plain.id]


def test_a_batch_claim_fills_from_one_account(fresh_store: JobStore) -> None:
    """A claim of several jobs takes each account's next job, then fills up in queue order."""
    a, b = account(fresh_store, "a"), account(fresh_store, "b")
    queue(fresh_store, a, 6)
    queue(fresh_store, b, 1)
    taken = fresh_store.claim("w1", ["m"], T0 + 1, LEASE, limit=4, scheduling=ONE)
    assert Counter(c.job.account_id for c in taken) == {a.id: 3, b.id: 1}


def test_a_job_past_its_start_deadline_is_not_taken(fresh_store: JobStore) -> None:
    """Neither by the fair pick nor by a batch's fill: the sweep expires it."""
    owner = account(fresh_store, "owner")
    late = dataclasses.replace(new_job(owner, priority=5), start_deadline=T0 + 1)
    fresh_store.submit(late)
    [on_time] = queue(fresh_store, owner, 1)
    taken = fresh_store.claim("w1", ["m"], T0 + 2, LEASE, limit=5, scheduling=ONE)
    assert [c.job.id for c in taken] == [on_time]


def test_an_idle_account_comes_back_at_most_its_credit_behind(fresh_store: JobStore) -> None:
    """An account idle while another ran ten seconds comes back three behind (the credit),
    not ten: it runs three jobs, then the two alternate."""
    a, b = account(fresh_store, "a"), account(fresh_store, "b")
    queue(fresh_store, a, 30)
    for n in range(10):
        run_one(fresh_store, T0 + 1 + 2 * n)
    mine = set(queue(fresh_store, b, 10, created_at=T0 + 30))
    credit = Scheduling(charge=1.0, aging_seconds=0, credit_seconds=3.0)
    order = [
        claim.job.id in mine
        for n in range(9)
        if (claim := run_one(fresh_store, T0 + 31 + 2 * n, credit)) is not None
    ]
    assert order[:3] == [True, True, True]
    assert sum(order[3:]) == 3


def test_credits_are_untouched_by_the_share(fresh_store: JobStore) -> None:
    """The virtual time is not money: a limited balance is charged only what jobs cost."""
    owner = fresh_store.ensure_account("paying", Decimal(5), T0)
    queue(fresh_store, owner, 1)
    run_one(fresh_store, T0 + 1)
    found = fresh_store.get_account(owner.id)
    assert found is not None
    assert found.credits == Decimal(5)


def test_an_aged_job_waits_only_for_its_accounts_older_jobs(fresh_store: JobStore) -> None:
    """A priority -5 job behind its own account's priority 0 jobs: once aging lifts it level
    with them, it runs before those queued after it."""
    owner = account(fresh_store, "owner")
    before = queue(fresh_store, owner, 2)
    [low] = queue(fresh_store, owner, 1, priority=-5, created_at=T0 + 1)
    after = queue(fresh_store, owner, 5, created_at=T0 + 100)
    aging = Scheduling(charge=1.0, aging_seconds=10.0)
    order = []
    for n in range(4):
        claim = run_one(fresh_store, T0 + 101 + 2 * n, aging)
        assert claim is not None
        order.append(claim.job.id)
    assert order == [*before, low, after[0]]


def test_one_claim_of_several_keeps_an_accounts_running_cap(fresh_store: JobStore) -> None:
    """Neither a claim of several nor a batch's fill takes a capped account past its cap:
    the pick takes one of its jobs per claim, the fill none."""
    capped = account(fresh_store, "capped")
    assert fresh_store.set_account_limits(capped.id, {"max_running": 2}) is not None
    queue(fresh_store, capped, 6)
    taken = fresh_store.claim("w1", ["m"], T0 + 1, LEASE, limit=5, scheduling=ONE)
    assert len(taken) == 1
    more = fresh_store.claim("w2", ["m"], T0 + 1, LEASE, limit=5, scheduling=ONE)
    assert len(more) == 1
    assert fresh_store.claim("w3", ["m"], T0 + 1, LEASE, limit=5, scheduling=ONE) == []
    # An uncapped account's batch still fills.
    free = account(fresh_store, "free")
    queue(fresh_store, free, 4)
    assert len(fresh_store.claim("w4", ["m"], T0 + 1, LEASE, limit=4, scheduling=ONE)) == 4


def test_an_attempt_queued_again_for_a_retry_is_charged_its_time(fresh_store: JobStore) -> None:
    """An attempt that failed and waits for its retry held its worker: its account is charged
    that time, as for an attempt that ended."""
    slow, other = account(fresh_store, "slow"), account(fresh_store, "other")
    queue(fresh_store, slow, 1)
    [claim] = fresh_store.claim("w1", ["m"], T0 + 1, LEASE, scheduling=ONE)
    again = fresh_store.retry_later(claim, T0 + 61, run_after=T0 + 62, event={"status": "queued"})
    assert again is not None
    # Charged 1 s at its claim, corrected to the 60 s it held the worker.
    assert vtime(fresh_store, slow) == 60.0
    assert vtime(fresh_store, other) == 0.0
