"""The notifier interface: named topics, subscriptions for async waiters, and listeners.

Notifications only make things fast: every waiter also re-reads the store now and then, so a
lost one costs at most a poll interval.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Callable

Listener = Callable[[str], None]


class Topic(enum.StrEnum):
    """What a publish is about; the payload says which job or model."""

    #: A job changed (a new event or status, or it was deleted); payload: the job's id. A
    #: subscription to this topic names one job and collects only that job's publishes.
    JOB = "job"
    #: New work may be waiting (a job was submitted or requeued); payload: its model, or ""
    #: for any model.
    QUEUED = "queued"
    #: A running job is asked to stop; payload: the job's id.
    CANCEL = "cancel"


class Subscription:
    """Collects publishes on one topic for an async waiter."""

    def __init__(self, close: Callable[[Subscription], None]) -> None:
        self._event = asyncio.Event()
        self._close = close

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a publish since the last wait; True if one came, False on timeout."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    def close(self) -> None:
        self._close(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Notifier(abc.ABC):
    """Wake-ups and event fan-out between the parts of genq."""

    @abc.abstractmethod
    def publish(self, topic: Topic, payload: str = "") -> None:
        """Tell every subscriber and listener of ``topic``; never blocks."""

    def announce(self, topic: Topic, payload: str = "") -> None:
        """``publish`` from any thread: what a store's ``on_change`` hook is given, since a
        store announces from whichever thread made the change."""
        self.publish(topic, payload)

    @abc.abstractmethod
    def subscribe(self, topic: Topic, job_id: str = "") -> Subscription:
        """Start collecting publishes on ``topic`` (with ``Topic.JOB``, on one job's); subscribe
        before reading state."""

    @abc.abstractmethod
    def add_listener(self, topic: Topic, listener: Listener) -> None:
        """Call ``listener(payload)`` on every publish on ``topic``."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start receiving from other processes, where the implementation does."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving."""
