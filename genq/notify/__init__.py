"""Wake-ups and event fan-out between the parts of genq, chosen by the database URL.

The embedded notifier is in-process; worker processes reach it through their supervisor's
pipes. With PostgreSQL, the store announces every change with NOTIFY to every process, and
``PostgresNotifier`` LISTENs for them.
"""

from __future__ import annotations

from genq.notify.base import Listener, Notifier, Subscription, Topic
from genq.notify.local import LocalNotifier

__all__ = [
    "Listener",
    "LocalNotifier",
    "Notifier",
    "Subscription",
    "Topic",
    "open_notifier",
]


def open_notifier(db_url: str, *, follow_jobs: bool = True) -> Notifier:
    """The notifier that carries the news of the store at ``db_url`` (see ``open_store``).

    ``follow_jobs=False``: nobody in this process waits on jobs' ``Topic.JOB`` publishes (a
    workers-only process), so the PostgreSQL notifier does not listen for them.
    """
    from genq.store import engine_of

    if engine_of(db_url) == "sqlite":
        return LocalNotifier()
    from genq.notify.postgres import PostgresNotifier
    from genq.store.postgres import parse_url

    conninfo, schema = parse_url(db_url)
    return PostgresNotifier(conninfo, schema, follow_jobs=follow_jobs)
