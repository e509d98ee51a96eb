"""Housekeeping: requeue the jobs of lapsed leases, and remove jobs whose retention ended.

The store announces what each sweep changes (requeued, failed and removed jobs, running jobs
asked to stop), as it does every change."""

from __future__ import annotations

import logging
import time

from genq.service.core import ServiceCore

log = logging.getLogger("genq.service")


class Housekeeping(ServiceCore):
    async def sweep(self) -> None:
        """Requeue jobs of lapsed leases and remove jobs whose retention has ended."""
        now = time.time()
        await self._db(self.store.release_lapsed, now, self.settings.max_attempts)
        retired = await self._db(self.store.expire, now)
        for job in retired.removed:
            await self._db(self.storage.delete_job, job.id)
            log.info("retention ended for job %s", job.id)
