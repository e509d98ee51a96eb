"""Start deadlines: a queued job that no worker took by its deadline ends ``expired``.

Each API process keeps a timer on the earliest deadline of any queued job, read from the
store's partial index of them, and checks again at least every ``DEADLINE_CHECK_SECONDS``
(or every sweep interval, when that is shorter) for deadlines submitted since, through this
process or another. A job expires within that check interval of its deadline, usually at it;
never later than that, as the retention sweep's interval would allow. The claim takes no job
past its deadline meanwhile, so a late check never lets one run. Several processes may expire
at once: the store ends each job once."""

from __future__ import annotations

import asyncio
import logging
import time

from genq import metrics
from genq.service.core import ServiceCore

log = logging.getLogger("genq.service")

#: The longest a process goes without looking for deadlines submitted since its last look.
DEADLINE_CHECK_SECONDS = 1.0


class Deadlines(ServiceCore):
    async def expire_start_deadlines(self) -> float | None:
        """End the queued jobs whose start deadline has come; returns the next deadline
        (None: no queued job has one)."""
        now = time.time()
        next_at = await self._db(self.store.next_start_deadline)
        if next_at is None or next_at > now:
            return next_at
        for job in await self._db(self.store.expire_start_deadlines, now):
            metrics.add(metrics.ended(job))
            log.info("job %s expired at its start deadline", job.id)
        return await self._db(self.store.next_start_deadline)

    async def keep_start_deadlines(self) -> None:
        """Expire queued jobs at their start deadlines, until cancelled."""
        check = min(DEADLINE_CHECK_SECONDS, self.settings.sweep_interval_seconds)
        while True:
            try:
                next_at = await self.expire_start_deadlines()
            except Exception:
                log.exception("expiring jobs at their start deadlines failed")
                next_at = None
            wait = check if next_at is None else min(check, next_at - time.time())
            await asyncio.sleep(max(wait, 0.01))
