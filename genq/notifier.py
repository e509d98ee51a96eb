"""The old import path of the notifier, kept while callers move to ``genq.notify``; to be
removed once none imports it."""

from __future__ import annotations

from genq.notify import (
    Listener,
    LocalNotifier,
    Notifier,
    Subscription,
    Topic,
    as_topic,
    job_topic,
    open_notifier,
)

__all__ = [
    "Listener",
    "LocalNotifier",
    "Notifier",
    "Subscription",
    "Topic",
    "as_topic",
    "job_topic",
    "open_notifier",
]
