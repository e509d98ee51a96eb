"""The in-process notifier: the embedded server's, and the base of the PostgreSQL one."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from genq.notify.base import Listener, Notifier, Subscription, Topic


def _address(topic: Topic, payload: str) -> tuple[Topic, str]:
    # Only a job's topic is addressed by its payload: a subscription follows one job.
    return (topic, payload) if topic is Topic.JOB else (topic, "")


class LocalNotifier(Notifier):
    """In-process fan-out: used from the event loop's thread, but for ``announce``."""

    def __init__(self) -> None:
        self._subscriptions: dict[tuple[Topic, str], set[Subscription]] = defaultdict(set)
        self._listeners: dict[Topic, list[Listener]] = defaultdict(list)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def publish(self, topic: Topic, payload: str = "") -> None:
        for subscription in self._subscriptions.get(_address(topic, payload), ()):
            subscription.notify()
        for listener in self._listeners.get(topic, ()):
            listener(payload)

    def announce(self, topic: Topic, payload: str = "") -> None:
        """``publish`` on the event loop's thread: at once when called there (or before the
        loop runs), handed to the loop from any other thread."""
        loop = self._loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or here is loop:
            self.publish(topic, payload)
        else:
            loop.call_soon_threadsafe(self.publish, topic, payload)

    def subscribe(self, topic: Topic, job_id: str = "") -> Subscription:
        address = _address(topic, job_id)

        def close(subscription: Subscription) -> None:
            subscribers = self._subscriptions.get(address)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[address]

        subscription = Subscription(close)
        self._subscriptions[address].add(subscription)
        return subscription

    def add_listener(self, topic: Topic, listener: Listener) -> None:
        self._listeners[topic].append(listener)

    def wake_all(self) -> None:
        """Wake every subscriber, as if each of their topics had a publish."""
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                subscription.notify()
