"""Following jobs: waiting for one to end, where a queued one stands, its events as they
come, and the text a text model has streamed so far."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from genq.jobs import EventRecord, EventType, JobRecord, Status
from genq.notify import Topic
from genq.service.core import ServiceCore

MAX_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class QueueState:
    """Where a queued job stands: jobs of its model ahead of it, and why it may wait long."""

    position: int
    message: str | None


class Following(ServiceCore):
    async def wait(self, account_id: str, job_id: str, timeout: float) -> JobRecord:
        """The job once terminal, or as it is after ``timeout`` seconds (at most a minute)."""
        deadline = time.monotonic() + min(timeout, MAX_WAIT_SECONDS)
        with self.notifier.subscribe(Topic.JOB, job_id) as subscription:
            while True:
                job = await self.get(account_id, job_id)
                left = deadline - time.monotonic()
                if job.terminal or left <= 0:
                    return job
                # The periodic re-read covers changes made where no publish reaches us.
                await subscription.wait(min(left, self.settings.poll_interval_seconds))

    async def queue_state(self, job: JobRecord) -> QueueState | None:
        if job.status is not Status.QUEUED:
            return None
        position = await self._db(self.store.queue_position, job)
        message = None
        if job.model not in await self.served_models():
            message = (
                f"no worker serves model {job.model!r} at the moment: the job stays queued "
                "until one that does starts"
            )
        return QueueState(position, message)

    async def served_models(self) -> set[str]:
        """Models that live workers serve (re-read at most once a second)."""
        now = time.monotonic()
        if now - self._served_at > 1.0:
            # A worker refreshes its entry every third of a lease.
            since = time.time() - self.settings.lease_seconds
            self._served = await self._db(self.store.served_models, since)
            self._served_at = now
        return self._served

    async def events(
        self, account_id: str, job_id: str, last_event_id: int = 0
    ) -> AsyncIterator[EventRecord]:
        """The job's events after ``last_event_id``, live, ending after the terminal one."""
        await self.get(account_id, job_id)
        return self._follow(account_id, job_id, last_event_id)

    async def text_so_far(self, job_id: str) -> str:
        """The text a text model has streamed for the job so far (its ``text`` events)."""
        pieces: list[str] = []
        after = 0
        while events := await self._db(self.store.events_after, job_id, after):
            after = events[-1].id
            pieces.extend(e.data.get("delta", "") for e in events if e.type is EventType.TEXT)
        return "".join(pieces)

    async def _follow(self, account_id: str, job_id: str, after: int) -> AsyncIterator[EventRecord]:
        ended = False
        with self.notifier.subscribe(Topic.JOB, job_id) as subscription:
            while True:
                events = await self._db(self.store.events_after, job_id, after)
                for event in events:
                    after = event.id
                    yield event
                    if event.type is EventType.STATUS and Status(event.data["status"]).terminal:
                        return
                if events:
                    continue
                if ended:
                    # Resumed after its terminal event: nothing follows.
                    return
                job = await self._db(self.store.get_job, account_id, job_id, time.time())
                if job is None:  # deleted or retired
                    return
                if job.terminal:
                    # It ended after the read above: read its last events once more.
                    ended = True
                    continue
                await subscription.wait(self.settings.poll_interval_seconds)
