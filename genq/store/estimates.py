"""The estimates part of the SQL job store (``genq.store.core.SQLStore``): what a queued job
waits for under fair shares (``genq.store.fair``), and how long the model's jobs run lately,
from which the service estimates when a job will be done (``genq.service.estimates``)."""

from __future__ import annotations

from dataclasses import dataclass

from genq.jobs import JobRecord
from genq.store.engine import Engine

#: What runs before a queued job of its own account: its jobs of a higher priority and those
#: of its priority queued before it (two index ranges of ``jobs_fair``), the model's running
#: jobs, and the account's weight.
_OWN = (
    "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = :model"
    " AND account_id = :account_id AND priority > :priority) AS higher,"
    " (SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = :model"
    " AND account_id = :account_id AND priority = :priority"
    " AND seq < (SELECT seq FROM jobs WHERE id = :id)) AS before,"
    " (SELECT COUNT(*) FROM jobs WHERE status = 'running' AND model = :model) AS running,"
    " (SELECT weight FROM accounts WHERE id = :account_id) AS weight"
)
#: Every account's queued jobs of a model above a priority, and at it with their weights:
#: the same for every job of that model and priority (``queue_at`` is kept a moment).
_ABOVE = (
    "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND model = :model"
    " AND priority > :priority"
)
_PEERS = (
    "SELECT j.account_id, COUNT(*) AS n, MAX(a.weight) AS weight FROM jobs j"
    " JOIN accounts a ON a.id = j.account_id WHERE j.status = 'queued' AND j.model = :model"
    " AND j.priority = :priority GROUP BY j.account_id"
)
#: How long the model's latest successful jobs held their workers.
_RECENT_RUNS = (
    "SELECT finished_at - started_at AS ran FROM jobs WHERE model = :model"
    " AND status = 'succeeded' AND started_at IS NOT NULL ORDER BY seq DESC LIMIT :limit"
)
#: Jobs whose run times make the model's average.
RECENT_RUNS = 50


@dataclass(frozen=True)
class Level:
    """A model's queue at one priority: its jobs above that priority, and each account's at
    it (account id, count, weight)."""

    above: int
    accounts: tuple[tuple[str, int, float], ...]


@dataclass(frozen=True)
class Ahead:
    """What a queued job waits for: its own account's jobs of a higher priority and of its
    priority queued before it, its account's weight, the model's running jobs, and the queue
    at its priority (``Level``)."""

    higher: int
    before: int
    weight: float
    running: int
    level: Level

    def jobs(self, account_id: str) -> float:
        """How many jobs start before it: every job above it, its own account's before it,
        and of each other account at its priority as many as its share of the workers gives
        it while this account runs its ``before + 1`` (at most what it has queued)."""
        share = sum(
            min(n, (self.before + 1) * weight / self.weight)
            for other, n, weight in self.level.accounts
            if other != account_id
        )
        return self.level.above + self.before + share


class EstimateStatements:
    _db: Engine

    async def ahead_of(self, job: JobRecord, level: Level) -> Ahead:
        args = {
            "id": job.id,
            "model": job.model,
            "account_id": job.account_id,
            "priority": job.priority,
        }
        [row] = await self._db.read(_OWN, args)
        return Ahead(
            higher=int(row["higher"]),
            before=int(row["before"]),
            weight=float(row["weight"] or 1.0),
            running=int(row["running"]),
            level=level,
        )

    async def queue_at(self, model: str, priority: int) -> Level:
        args = {"model": model, "priority": priority}
        [above] = await self._db.read(_ABOVE, args)
        rows = await self._db.read(_PEERS, args)
        accounts = tuple((r["account_id"], int(r["n"]), float(r["weight"])) for r in rows)
        return Level(int(above["n"]), accounts)

    async def recent_run_seconds(self, model: str) -> float | None:
        rows = await self._db.read(_RECENT_RUNS, {"model": model, "limit": RECENT_RUNS})
        runs = [float(r["ran"]) for r in rows if r["ran"] is not None]
        return sum(runs) / len(runs) if runs else None
