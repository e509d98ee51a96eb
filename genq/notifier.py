"""Wake-ups and event fan-out between the parts of genq.

Topics: ``job:ID`` (the job changed: new events), ``queued`` (new work, payload: model name)
and ``cancel`` (payload: job id). The embedded implementation is in-process; worker processes
reach it through their supervisor's pipes. With PostgreSQL, the store announces changes with
LISTEN/NOTIFY to every process (``genq.store.postgres.PostgresNotifier``).

Notifications only make things fast: every waiter also re-reads the store now and then, so a
lost one costs at most a poll interval.
"""

from __future__ import annotations

import abc
import asyncio
from collections import defaultdict
from collections.abc import Callable

Listener = Callable[[str], None]


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
    @abc.abstractmethod
    def publish(self, topic: str, payload: str = "") -> None:
        """Tell every subscriber and listener of ``topic``; never blocks."""

    @abc.abstractmethod
    def subscribe(self, topic: str) -> Subscription:
        """Start collecting publishes on ``topic`` (subscribe before reading state)."""

    @abc.abstractmethod
    def add_listener(self, topic: str, listener: Listener) -> None:
        """Call ``listener(payload)`` on every publish on ``topic``."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start receiving from other processes, where the implementation does."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving."""


def job_topic(job_id: str) -> str:
    return f"job:{job_id}"


class LocalNotifier(Notifier):
    """In-process fan-out; must be used from the event loop's thread."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self._listeners: dict[str, list[Listener]] = defaultdict(list)

    def publish(self, topic: str, payload: str = "") -> None:
        for subscription in self._subscriptions.get(topic, ()):
            subscription.notify()
        for listener in self._listeners.get(topic, ()):
            listener(payload)

    def subscribe(self, topic: str) -> Subscription:
        def close(subscription: Subscription) -> None:
            subscribers = self._subscriptions.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[topic]

        subscription = Subscription(close)
        self._subscriptions[topic].add(subscription)
        return subscription

    def add_listener(self, topic: str, listener: Listener) -> None:
        self._listeners[topic].append(listener)

    def wake_all(self) -> None:
        """Wake every subscriber, as if each of their topics had a publish."""
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                subscription.notify()
