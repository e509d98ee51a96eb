"""How the store's statements are declared (``genq.store.queries``) for the engines to run.

Statements are written once, with ``:name`` parameters and in PostgreSQL's stricter spelling
(``FOR UPDATE`` where a row is read to be changed); each engine spells them its own way. One
whose SQL really differs is a ``PerEngine``. One that changes jobs is a ``Change``: with it,
what each job it changes records and announces, which an engine turns into its own SQL
(PostgreSQL: one statement) or steps (SQLite: within its write transaction).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from genq.jobs import Status, WebhookEvent
from genq.notify.base import Topic
from genq.store.rows import Decode, Row


@dataclass(frozen=True, eq=False)
class PerEngine:
    """One statement whose SQL really differs between the engines."""

    sqlite: str
    postgres: str


Sql = str | PerEngine


class Record(enum.Enum):
    """The event row a ``Change`` writes for each job it changes."""

    #: A ``status`` event with the job's new status (``rows.status_event_data``).
    STATUS = "status"
    #: The event whose type and data the call passes (progress, a log line, text...).
    GIVEN = "given"
    #: None: the job and its events are gone, or only a flag changed.
    NOTHING = "nothing"


@dataclass(frozen=True, eq=False)
class Change:
    """A statement that changes jobs, and what each job it returns records and announces.

    ``sql`` returns the changed jobs' rows: at least ``id``, ``status`` when announcing
    ``QUEUED`` or ``CANCEL``, ``model`` with ``QUEUED``, every column with
    ``Record.STATUS``, and ``account_id``, ``model``, ``webhook`` and ``webhook_events``
    with ``Record.GIVEN`` (for the webhook calls it may make due, ``due_events``: the
    account's endpoints filter by model).
    """

    sql: Sql
    record: Record
    announce: tuple[Topic, ...] = (Topic.JOB,)


#: Per topic, the column of a changed job's row that is the payload, and the status the job
#: must be in for the change to be announced on that topic (None: any).
ANNOUNCED: dict[Topic, tuple[str, str | None]] = {
    Topic.JOB: ("id", None),
    # New work only when the change left the job queued.
    Topic.QUEUED: ("model", "queued"),
    # A stop request only reaches a job that is still running.
    Topic.CANCEL: ("id", "running"),
}


def announcements(rows: Sequence[Row], topics: Sequence[Topic]) -> Iterator[tuple[Topic, str]]:
    """What changed ``rows`` announce on ``topics``, by the rules of ``ANNOUNCED``."""
    for row in rows:
        for topic in topics:
            column, status = ANNOUNCED[topic]
            if status is None or row["status"] == status:
                yield topic, row[column]


#: The event types of a ``Record.GIVEN`` change that call a job's webhook, as that event.
GIVEN_WEBHOOKS = (WebhookEvent.PROGRESS, WebhookEvent.OUTPUT)
#: Statuses whose change calls the webhook's ``completed``.
ENDED = tuple(s.value for s in Status if s.terminal)


def due_events(
    record: Record, row: Row, event_type: str | None, decode: Decode
) -> list[WebhookEvent]:
    """The webhook events a changed job's row makes due, in order: ``start`` when it starts
    running; ``output`` (if it has outputs) and ``completed`` when it ends; ``progress`` or
    ``output`` for such an event given. Each webhook (the job's own, the account's
    endpoints) is then called for those it wants. (``genq.store.postgres`` spells the same
    rule in SQL.)"""
    if record is Record.STATUS:
        status = row["status"]
        if status == Status.RUNNING:
            return [WebhookEvent.START]
        if status in ENDED:
            if status == Status.SUCCEEDED and decode(row["outputs"]):
                return [WebhookEvent.OUTPUT, WebhookEvent.COMPLETED]
            return [WebhookEvent.COMPLETED]
    elif record is Record.GIVEN and event_type in GIVEN_WEBHOOKS:
        return [WebhookEvent(event_type)]
    return []


def own_webhook_wants(row: Row, event: WebhookEvent, decode: Decode) -> bool:
    """Whether the job's own webhook (``webhook`` on its submit) is called for ``event``."""
    return row["webhook"] is not None and event in decode(row["webhook_events"])
