"""The streamed pieces part of the SQL job store (``genq.store.core.SQLStore``): a job's text
and partial events, taken once each by a stream that answers only what is new since its last
call. The job's row keeps how far they were taken (``stream_taken``), so that several API
processes answering one job's stream neither repeat a piece nor skip one."""

from __future__ import annotations

import orjson

from genq.jobs import EventRecord, EventType
from genq.store.engine import Engine, Tx
from genq.store.rows import event_from_row

#: The kinds of event that are pieces of a job's stream.
PIECES = (EventType.TEXT, EventType.PARTIAL)
# The job's row is locked while its pieces are read: a second take waits, then starts after
# what this one took.
LOCK_TAKEN = (
    "SELECT stream_taken FROM jobs WHERE id = :id AND account_id = :account_id"
    " AND expires_at > :now FOR UPDATE"
)
_KINDS = ", ".join(f"'{kind.value}'" for kind in PIECES)
PIECES_AFTER = (
    "SELECT * FROM events WHERE job_id = :id AND id > :after"
    f" AND type IN ({_KINDS}) ORDER BY id LIMIT :limit"
)
MARK_TAKEN = "UPDATE jobs SET stream_taken = :taken WHERE id = :id"


def within(events: list[EventRecord], max_bytes: int) -> list[EventRecord]:
    """The first events whose data hold at most ``max_bytes`` as JSON; at least one."""
    size = 0
    for count, event in enumerate(events):
        size += len(orjson.dumps(event.data))
        if count and size > max_bytes:
            return events[:count]
    return events


class StreamStatements:
    _db: Engine

    def take_stream(
        self, account_id: str, job_id: str, now: float, *, limit: int, max_bytes: int
    ) -> list[EventRecord] | None:
        args = {"id": job_id, "account_id": account_id, "now": now}

        def run(tx: Tx) -> list[EventRecord] | None:
            with tx.atomic():
                row = tx.one(LOCK_TAKEN, args)
                if row is None:
                    return None
                after = {"id": job_id, "after": row["stream_taken"], "limit": limit}
                rows = tx.all(PIECES_AFTER, after)
                taken = within([event_from_row(r, self._db.decode) for r in rows], max_bytes)
                if taken:
                    tx.run(MARK_TAKEN, {"id": job_id, "taken": taken[-1].id})
                return taken

        return self._db.write(run)
