"""The in-process notifier: topics by name or by their old bare strings reach the same
subscribers and listeners, a job's subscription hears only that job, and the database URL
chooses the notifier."""

from __future__ import annotations

import asyncio

import pytest

from genq.errors import ConfigError
from genq.notify import LocalNotifier, Topic, job_topic, open_notifier


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


def test_old_topic_strings_name_the_same_topics() -> None:
    """``"queued"``, ``"cancel"`` and ``job_topic(ID)`` reach what the named topics reach."""

    async def main() -> tuple[list[tuple[str, str]], bool]:
        notifier = LocalNotifier()
        heard: list[tuple[str, str]] = []
        notifier.add_listener("queued", lambda model: heard.append(("queued", model)))
        notifier.add_listener(Topic.CANCEL, lambda job_id: heard.append(("cancel", job_id)))
        notifier.publish(Topic.QUEUED, "m")
        notifier.publish("queued", "m2")
        notifier.publish("cancel", "job_1")
        with notifier.subscribe(job_topic("job_1")) as subscription:
            notifier.publish(Topic.JOB, "job_1")
            return heard, await subscription.wait(0.01)

    heard, woken = asyncio.run(main())
    assert heard == [("queued", "m"), ("queued", "m2"), ("cancel", "job_1")]
    assert woken


def test_the_database_url_chooses_the_notifier() -> None:
    """An SQLite URL gets the in-process notifier; a URL of no known engine is refused."""
    assert type(open_notifier("sqlite:///data/genq.db")) is LocalNotifier
    with pytest.raises(ConfigError, match="unsupported database URL"):
        open_notifier("mysql://localhost/genq")
