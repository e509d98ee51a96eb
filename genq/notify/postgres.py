"""The PostgreSQL notifier: the store's NOTIFY announcements, heard on a LISTEN connection of
this process's own and turned back into topics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from genq.notify.base import Topic
from genq.notify.local import LocalNotifier
from genq.store.postgres import CONNECT_TIMEOUT, channel, psycopg

log = logging.getLogger("genq.notify.postgres")


class PostgresNotifier(LocalNotifier):
    """Turns the store's ``pg_notify`` announcements into notifier topics, in this process.

    ``publish`` does nothing here: the store announces every change itself, from inside the
    transaction that makes it, to every process (a local publish would only wake the same
    waiters twice). One connection LISTENs; when it breaks, it reconnects and wakes every
    waiter, since announcements made meanwhile were lost.
    """

    def __init__(self, conninfo: str, schema: str, *, follow_jobs: bool = True) -> None:
        super().__init__()
        self.conninfo = conninfo
        self.schema = schema
        #: Whether anyone here follows jobs (an API does; a workers-only process does not).
        self.follow_jobs = follow_jobs
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def publish(self, topic: Topic, payload: str = "") -> None:
        pass

    def deliver(self, topic: Topic, payload: str = "") -> None:
        super().publish(topic, payload)

    async def start(self) -> None:
        """Start listening; add the listeners (``QUEUED``, ``CANCEL``) before this."""
        await super().start()
        self._task = asyncio.create_task(self._listen_forever(), name="genq-listen")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _wanted(self) -> dict[str, Topic]:
        # Only what someone here waits for: every announcement heard costs CPU.
        return {
            channel(self.schema, topic): topic
            for topic in Topic
            if (topic is Topic.JOB and self.follow_jobs) or self._listeners.get(topic)
        }

    async def _listen_forever(self) -> None:
        delay = 0.1
        first = True
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT,
                    application_name=f"genq-{os.getpid()}-listen",
                )
            except psycopg.OperationalError as exc:
                log.warning("cannot connect to listen for changes (retrying): %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                async with conn:
                    topics = self._wanted()
                    for name in topics:
                        await conn.execute(f'LISTEN "{name}"')
                    self.connected.set()
                    delay = 0.1
                    if not first:
                        log.warning("listening for changes again")
                        self._wake_everyone()
                    first = False
                    async for note in conn.notifies():
                        topic = topics.get(note.channel)
                        if topic is not None:
                            self.deliver(topic, note.payload)
            except psycopg.OperationalError as exc:
                self.connected.clear()
                log.warning("lost the database connection that listens for changes: %s", exc)
                await asyncio.sleep(delay)

    def _wake_everyone(self) -> None:
        self.wake_all()
        self.deliver(Topic.QUEUED, "")
