"""The in-process notifier: a job's subscription hears only that job, and the database URL
chooses the notifier."""

from __future__ import annotations

import asyncio
import threading

import pytest

from genq.errors import ConfigError
from genq.notify import LocalNotifier, Topic, open_notifier


def test_a_job_subscription_hears_only_its_job() -> None:
    """A subscription to one job's topic is woken by that job's publishes, not another's."""

    async def main() -> tuple[bool, bool]:
        notifier = LocalNotifier()
        with notifier.subscribe(Topic.JOB, "job_1") as subscription:
            notifier.publish(Topic.JOB, "job_2")
            before = await subscription.wait(0.01)
            notifier.publish(Topic.JOB, "job_1")
            return before, await subscription.wait(0.01)

    assert asyncio.run(main()) == (False, True)


def test_the_database_url_chooses_the_notifier() -> None:
    """An SQLite URL gets the in-process notifier; a URL of no known engine is refused."""
    assert type(open_notifier("sqlite:///data/genq.db")) is LocalNotifier
    with pytest.raises(ConfigError, match="unsupported database URL"):
        open_notifier("mysql://localhost/genq")


def test_an_announcement_from_another_thread_is_published_on_the_loop() -> None:
    """``announce`` called from a store's writing thread wakes a subscriber through the event
    loop, on the loop's own thread, as a publish there would."""

    async def main() -> tuple[bool, bool]:
        notifier = LocalNotifier()
        await notifier.start()
        heard: list[bool] = []
        loop_thread = threading.get_ident()
        notifier.add_listener(
            Topic.QUEUED, lambda model: heard.append(threading.get_ident() == loop_thread)
        )
        with notifier.subscribe(Topic.JOB, "job_1") as subscription:
            writer = threading.Thread(target=notifier.announce, args=(Topic.JOB, "job_1"))
            writer.start()
            writer.join()
            woken = await subscription.wait(5.0)
        writer = threading.Thread(target=notifier.announce, args=(Topic.QUEUED, "m"))
        writer.start()
        writer.join()
        await asyncio.sleep(0)
        return woken, heard == [True]

    assert asyncio.run(main()) == (True, True)
