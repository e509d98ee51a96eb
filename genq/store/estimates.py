"""The estimates part of the SQL job store (``genq.store.core.SQLStore``): what a queued job
waits for under fair shares (``genq.store.fair``), and how long the model's jobs run lately,
from which the service estimates when a job will be done (``genq.service.estimates``)."""

from __future__ import annotations

from dataclasses import dataclass

from genq.jobs import JobRecord
from genq.store.engine import Engine

#: What runs before a queued job: its own account's jobs ahead of it, other accounts' jobs of
#: a higher priority, the model's running jobs, and its account's weight.
_AHEAD = (
    "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = :model"
    " AND account_id = :account_id AND (priority > :priority OR (priority = :priority"
    " AND seq < (SELECT seq FROM jobs WHERE id = :id)))) AS own,"
    " (SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = :model"
    " AND account_id <> :account_id AND priority > :priority) AS higher,"
    " (SELECT COUNT(*) FROM jobs WHERE status = 'running' AND model = :model) AS running,"
    " (SELECT weight FROM accounts WHERE id = :account_id) AS weight"
)
#: Other accounts' queued jobs of the same model and priority, with their weights: they share
#: the workers with this job's account.
_PEERS = (
    "SELECT j.account_id, COUNT(*) AS n, MAX(a.weight) AS weight FROM jobs j"
    " JOIN accounts a ON a.id = j.account_id WHERE j.status = 'queued' AND j.model = :model"
    " AND j.priority = :priority AND j.account_id <> :account_id GROUP BY j.account_id"
)
#: How long the model's latest successful jobs held their workers.
_RECENT_RUNS = (
    "SELECT finished_at - started_at AS ran FROM jobs WHERE model = :model"
    " AND status = 'succeeded' AND started_at IS NOT NULL ORDER BY seq DESC LIMIT :limit"
)
#: Jobs whose run times make the model's average.
RECENT_RUNS = 50


@dataclass(frozen=True)
class Ahead:
    """What a queued job waits for: its own account's jobs queued before it, other accounts'
    jobs of a higher priority, other accounts' jobs at its priority (account id, count,
    weight), its account's weight, and the model's running jobs."""

    own: int
    higher: int
    peers: tuple[tuple[str, int, float], ...]
    weight: float
    running: int

    def jobs(self) -> float:
        """How many jobs start before it: every job above it, and of each other account at
        its priority, as many as its share of the workers gives it while this account runs
        its ``own + 1`` (at most what it has queued)."""
        share = sum(min(n, (self.own + 1) * weight / self.weight) for _, n, weight in self.peers)
        return self.own + self.higher + share


class EstimateStatements:
    _db: Engine

    async def ahead_of(self, job: JobRecord) -> Ahead:
        args = {
            "id": job.id,
            "model": job.model,
            "account_id": job.account_id,
            "priority": job.priority,
        }
        [row] = await self._db.read(_AHEAD, args)
        peers = await self._db.read(_PEERS, args)
        return Ahead(
            own=int(row["own"]),
            higher=int(row["higher"]),
            peers=tuple((p["account_id"], int(p["n"]), float(p["weight"])) for p in peers),
            weight=float(row["weight"] or 1.0),
            running=int(row["running"]),
        )

    async def recent_run_seconds(self, model: str) -> float | None:
        rows = await self._db.read(_RECENT_RUNS, {"model": model, "limit": RECENT_RUNS})
        runs = [float(r["ran"]) for r in rows if r["ran"] is not None]
        return sum(runs) / len(runs) if runs else None
