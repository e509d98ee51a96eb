"""Following jobs: waiting for one to end, where a queued one stands, its events as they
come, and the text a text model has streamed so far, and the lines it has logged (or all it
wrote while running at once: its transcript); and taking its streamed pieces, each once."""

from __future__ import annotations

import asyncio
import bisect
import functools
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from cachetools import LRUCache

from genq import retries
from genq.errors import Missing
from genq.jobs import EventRecord, EventType, JobRecord, Status
from genq.notify import Topic
from genq.service.core import ServiceCore, known_id

MAX_WAIT_SECONDS = 60.0
#: Most of what ended jobs' transcripts hold, kept for the clients that poll them (characters
#: of text and log lines, and bytes of streamed values as JSON).
KEPT_TRANSCRIPT_CHARS = 16 << 20
#: Most log lines ``logs_so_far`` answers: the latest ones.
MAX_LOG_LINES = 1000
#: Most streamed pieces one ``take_stream`` hands out, and about the most bytes they hold (a
#: single piece holds at most 256 KiB, ``genq.limits.MAX_PARTIAL_BYTES``).
STREAM_TAKE = 1000
STREAM_TAKE_BYTES = 1 << 20


@dataclass(frozen=True)
class Transcript:
    """What a job's model wrote while it ran, from its events, in order: the pieces of text
    it streamed (``text`` events), its log lines, and the values it streamed (``partial``)."""

    text: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()

    def size(self) -> int:
        written = sum(map(len, self.text)) + sum(map(len, self.logs))
        return written + (len(orjson.dumps(self.values)) if self.values else 0)


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
        if job.run_after is not None and job.run_after > time.time():
            message = retries.waiting_message(job.attempts, job.run_after)
        elif job.model not in await self.served_models():
            message = (
                f"no worker serves model {job.model!r} at the moment: the job stays queued "
                "until one that does starts"
            )
        return QueueState(position, message)

    async def events(
        self, account_id: str, job_id: str, last_event_id: int = 0
    ) -> AsyncIterator[EventRecord]:
        """The job's events after ``last_event_id``, live, ending after the terminal one."""
        await self.get(account_id, job_id)
        return self._follow(account_id, job_id, last_event_id)

    async def text_so_far(self, job: JobRecord) -> str:
        """The text a text model has streamed for the job so far (its ``text`` events); kept
        once the job has ended, when no more can come (a worker writes a job's last text
        before its end)."""
        key = ("events", job.id)
        if job.terminal and (kept := self._texts.get(key)) is not None:
            return kept
        pieces: list[str] = []
        after = 0
        while events := await self.store.read_events(job.id, after):
            after = events[-1].id
            pieces.extend(e.data.get("delta", "") for e in events if e.type is EventType.TEXT)
        text = "".join(pieces)
        if job.terminal:
            self._keep_text(key, text)
        return text

    async def logs_so_far(self, job: JobRecord, limit: int = MAX_LOG_LINES) -> list[EventRecord]:
        """The lines the job's model has logged so far (its ``log`` events), oldest first:
        the latest ``limit`` of them."""
        lines: deque[EventRecord] = deque(maxlen=limit)
        after = 0
        while events := await self.store.read_events(job.id, after):
            after = events[-1].id
            lines.extend(e for e in events if e.type is EventType.LOG)
        return list(lines)

    async def transcript(self, job: JobRecord) -> Transcript:
        """The job's streamed text, log lines (the latest ``MAX_LOG_LINES``) and streamed
        values so far, read in one pass over its events; kept once the job has ended, when no
        more can come."""
        if job.terminal and (kept := self._transcripts.get(job.id)) is not None:
            return kept
        text: list[str] = []
        logs: deque[str] = deque(maxlen=MAX_LOG_LINES)
        values: list[Any] = []
        after = 0
        while events := await self.store.read_events(job.id, after):
            after = events[-1].id
            for event in events:
                if event.type is EventType.TEXT and event.data.get("delta"):
                    text.append(event.data["delta"])
                elif event.type is EventType.LOG:
                    logs.append(event.data.get("message", ""))
                elif event.type is EventType.PARTIAL:
                    values.append(event.data.get("value"))
        transcript = Transcript(tuple(text), tuple(logs), tuple(values))
        if job.terminal and transcript.size() <= KEPT_TRANSCRIPT_CHARS:
            self._transcripts[job.id] = transcript
        return transcript

    @functools.cached_property
    def _transcripts(self) -> LRUCache[str, Transcript]:
        return LRUCache(KEPT_TRANSCRIPT_CHARS, getsizeof=Transcript.size)

    async def take_stream(self, account_id: str, job_id: str) -> list[EventRecord]:
        """The job's streamed pieces (``text`` and ``partial`` events) that no earlier call
        took, oldest first, now taken: each is handed out once, whichever API process is
        asked (``genq.store.streams``). At most ``STREAM_TAKE`` of them, and about
        ``STREAM_TAKE_BYTES``, at a time."""
        taken = await self._db(
            self.store.take_stream,
            account_id,
            known_id(job_id),
            time.time(),
            limit=STREAM_TAKE,
            max_bytes=STREAM_TAKE_BYTES,
        )
        if taken is None:
            raise Missing(f"no job {job_id!r}", code="job_not_found")
        return taken

    @functools.cached_property
    def _feeds(self) -> dict[str, JobFeed]:
        return {}

    async def _follow(self, account_id: str, job_id: str, after: int) -> AsyncIterator[EventRecord]:
        # Every follower of a job reads the feed that one reader fills for them all: a new
        # event costs one read of the store, not one per follower.
        feed = self._feeds.get(job_id)
        if feed is None or feed.done:
            feed = self._feeds[job_id] = JobFeed(self, account_id, job_id, after)
        feed.followers += 1
        try:
            # Events older than the feed's are read from the store first.
            while after < feed.base:
                events = await self.store.read_events(job_id, after)
                older = [event for event in events if event.id <= feed.base]
                if not older:
                    break
                for event in older:
                    after = event.id
                    yield event
                    if is_terminal(event):
                        return
            if after < feed.base and not feed.events:
                # The feed has read nothing past its base: a base beyond every event of the
                # job (a Last-Event-ID none of its events had) would hold back the events in
                # between from this follower. From here on the feed reads from here.
                feed.base = after
            after = max(after, feed.base)
            while True:
                events = feed.since(after)
                for event in events:
                    after = event.id
                    yield event
                    if is_terminal(event):
                        return
                if not events:
                    if feed.done:
                        feed.raise_error()
                        return
                    await feed.changed()
        finally:
            feed.leave()


def is_terminal(event: EventRecord) -> bool:
    return event.type is EventType.STATUS and Status(event.data["status"]).terminal


class JobFeed:
    """A job's events after ``base``, read from the store by one task for every follower of
    the job in this process, as publishes on the job's topic (or the poll interval) say."""

    def __init__(self, service: Following, account_id: str, job_id: str, base: int) -> None:
        self.service = service
        self.account_id = account_id
        self.job_id = job_id
        self.base = base
        self.events: list[EventRecord] = []
        self.followers = 0
        self.done = False
        self._error: BaseException | None = None
        self._error_tb: TracebackType | None = None
        #: One future per follower waiting for news: a shared one would be cancelled with
        #: the first follower that leaves, and shielding it costs a second wake-up apiece.
        self._waiting: set[asyncio.Future[None]] = set()
        self._reader = asyncio.create_task(self._read(), name=f"genq-feed-{job_id}")

    def since(self, after: int) -> list[EventRecord]:
        """The events read so far that come after event ``after``."""
        return self.events[bisect.bisect_right(self.events, after, key=lambda e: e.id) :]

    async def changed(self) -> None:
        """Until more events are read, or the feed ends."""
        news = asyncio.get_running_loop().create_future()
        self._waiting.add(news)
        try:
            await news
        finally:
            self._waiting.discard(news)  # a follower that left waits no more

    def raise_error(self) -> None:
        if self._error is not None:
            # Each follower raises the one error from the reader's traceback, as a future
            # does: raised as it stands, it would carry every earlier follower's frames too.
            raise self._error.with_traceback(self._error_tb)

    def leave(self) -> None:
        self.followers -= 1
        if self.followers == 0:
            self._reader.cancel()
            self._end()

    def _end(self) -> None:
        self.done = True
        if self.service._feeds.get(self.job_id) is self:
            del self.service._feeds[self.job_id]
        self._wake()

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, set()
        for news in waiting:
            if not news.done():  # else its follower was cancelled, and has left
                news.set_result(None)

    async def _read(self) -> None:
        try:
            await self._read_to_end()
        except Exception as exc:  # the followers raise it, as each did reading alone
            self._error, self._error_tb = exc, exc.__traceback__
        finally:
            self._end()

    async def _read_to_end(self) -> None:
        service, job_id = self.service, self.job_id
        ended = False
        with service.notifier.subscribe(Topic.JOB, job_id) as subscription:
            while True:
                # Until it reads an event, a follower from further back may lower the base.
                after = self.events[-1].id if self.events else self.base
                events = await service.store.read_events(job_id, after)
                if events:
                    self.events.extend(events)
                    self._wake()
                    if any(is_terminal(event) for event in events):
                        return
                    continue
                if ended:
                    # Followed after its terminal event: nothing follows.
                    return
                job = await service.store.read_job(self.account_id, job_id, time.time())
                if job is None:  # deleted or retired
                    return
                if job.terminal:
                    # It ended after the read above: read its last events once more.
                    ended = True
                    continue
                await subscription.wait(service.settings.poll_interval_seconds)
