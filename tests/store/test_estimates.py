"""What a queued job waits for under fair shares (``genq.store.estimates``), on both engines,
and the count of jobs it makes."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from genq.store import JobStore
from genq.store.estimates import Ahead, Level
from tests.store.test_store_contract import LEASE, T0, new_job


def test_the_jobs_ahead_count_other_accounts_by_their_share() -> None:
    """Everything above it, its own account's before it, and of each other account at its
    priority what that account's weight gives it meanwhile (at most what it has queued)."""
    level = Level(above=1, accounts=(("a", 3, 1.0), ("b", 10, 1.0), ("c", 1, 1.0)))
    plain = Ahead(higher=0, before=2, weight=1.0, running=0, level=level)
    assert plain.jobs("a") == 1 + 2 + 3 + 1
    weighted = Ahead(higher=0, before=2, weight=1.0, running=0, level=Level(0, (("b", 10, 3.0),)))
    assert weighted.jobs("a") == 2 + 9
    heavy = Ahead(higher=0, before=0, weight=4.0, running=0, level=Level(0, (("b", 10, 1.0),)))
    assert heavy.jobs("a") == 0.25


def test_a_queued_jobs_ahead_are_read(fresh_store: JobStore) -> None:
    a = fresh_store.ensure_account("a", Decimal(5), T0)
    b = fresh_store.ensure_account("b", Decimal(5), T0)
    mine = [fresh_store.submit(new_job(a)).job for _ in range(3)]
    for _ in range(5):
        fresh_store.submit(new_job(b))
    fresh_store.submit(new_job(b, priority=5))
    [running] = fresh_store.claim("w1", ["m"], T0 + 1, LEASE)
    assert running.job.priority == 5
    fresh_store.submit(new_job(b, priority=7, created_at=T0 + 2))

    async def reads() -> tuple[Ahead, float | None]:
        try:
            level = await fresh_store.queue_at("m", 0)
            ahead = await fresh_store.ahead_of(mine[2], level)
            return ahead, await fresh_store.recent_run_seconds("m")
        finally:
            await fresh_store.close_reads()

    ahead, run = asyncio.run(reads())
    assert (ahead.higher, ahead.before, ahead.weight, ahead.running) == (0, 2, 1.0, 1)
    assert ahead.level.above == 1
    assert sorted(ahead.level.accounts) == sorted([(a.id, 3, 1.0), (b.id, 5, 1.0)])
    assert ahead.jobs(a.id) == 1 + 2 + 3
    assert run is None
    assert fresh_store.finish(running, T0 + 4) is not None
    assert asyncio.run(reads())[1] == 3.0
