"""When a job will be done (``eta_seconds``): a queued job from the jobs that start before it
under fair shares (``genq.store.estimates``), how long the model's jobs run lately, and how
many workers serve the model; a running job from the rate of its progress, or else from the
model's run time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from genq.jobs import JobRecord, Status
from genq.service.core import ServiceCore


@dataclass(frozen=True)
class Estimate:
    """Seconds until a job is expected to be done; None: genq cannot tell."""

    seconds: float | None


#: A run time not read yet (None is one read: no job has finished).
UNREAD: Any = object()


class Estimates(ServiceCore):
    async def eta(self, job: JobRecord) -> float | None:
        """Seconds until the job is expected to be done; None when genq cannot tell (it has
        ended, no worker serves its model, or no job of it has finished yet and it reports
        no progress)."""
        if job.status is Status.RUNNING:
            return await self._running_eta(job)
        if job.status is not Status.QUEUED:
            return None
        run = await self._run_time(job.model)
        workers = (await self.served_models()).get(job.model, 0)
        if not workers or run is None:
            return None
        key = (job.model, job.priority)
        level = self._queue_levels.get(key)
        if level is None:
            level = self._queue_levels[key] = await self.store.queue_at(*key)
        ahead = await self.store.ahead_of(job, level)
        # Workers free now take the first jobs at once; each later start waits for a job to
        # end, and they end at ``workers`` per run time (the first of them half a run away).
        free = max(0, workers - ahead.running)
        waits = ahead.jobs(job.account_id) - free + 1
        start = 0.0 if waits <= 0 else (waits - 0.5) * run / workers
        return round(start + run, 1)

    async def _running_eta(self, job: JobRecord) -> float | None:
        if job.started_at is None:
            return None
        elapsed = max(0.0, time.time() - job.started_at)
        step, total = job.progress.step, job.progress.total
        if total > 0 and 0 < step <= total:
            return round(elapsed * (total - step) / step, 1)
        run = await self._run_time(job.model)
        return None if run is None else round(max(0.0, run - elapsed), 1)

    async def _run_time(self, model: str) -> float | None:
        """The model's recent run time (None: none yet), trusted for
        ``core.MODEL_FIGURES_SECONDS``."""
        found = self._run_seconds.get(model, UNREAD)
        if found is UNREAD:
            found = self._run_seconds[model] = await self.store.recent_run_seconds(model)
        return found
