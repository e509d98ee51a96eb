"""Housekeeping: requeue the jobs of lapsed leases, and remove jobs whose retention ended."""

from __future__ import annotations

import logging
import time

from genq.notifier import job_topic
from genq.service.core import ServiceCore

log = logging.getLogger("genq.service")


class Housekeeping(ServiceCore):
    async def sweep(self) -> None:
        """Requeue jobs of lapsed leases and remove jobs whose retention has ended."""
        now = time.time()
        released = await self._db(self.store.release_lapsed, now, self.settings.max_attempts)
        for job_id in (*released.requeued, *released.failed):
            self.notifier.publish(job_topic(job_id))
        if released.requeued:
            self.notifier.publish("queued", "")
        retired = await self._db(self.store.expire, now)
        for job_id in retired.stopping:
            self.notifier.publish("cancel", job_id)
        for job in retired.removed:
            await self._db(self.storage.delete_job, job.id)
            self.notifier.publish(job_topic(job.id))
            log.info("retention ended for job %s", job.id)
