"""The webhooks part of the SQL job store (``genq.store.core.SQLStore``): each account's
default signing secret, and the outbox of webhook calls. A call is added only by the change of
a job that makes it due (``SQLStore.change``); here it is read, taken, and settled."""

from __future__ import annotations

from collections.abc import Sequence

from genq.jobs import DeliveryRecord, DeliveryState
from genq.store import queries as q
from genq.store.engine import Engine, Tx
from genq.store.rows import delivery_from_row


class WebhookStatements:
    _db: Engine

    def webhook_secret(self, account_id: str, made: str, now: float) -> str:
        args = {"account_id": account_id, "secret": made, "now": now}

        def run(tx: Tx) -> str:
            # Two first uses at once: one secret wins, and both read it.
            tx.run(q.INSERT_WEBHOOK_SECRET, args)
            row = tx.one(q.WEBHOOK_SECRET, args)
            assert row is not None
            return str(row["secret"])

        return self._db.write(run)

    def deliveries(self, job_id: str) -> list[DeliveryRecord]:
        return [
            delivery_from_row(row) for row in self._db.all(q.JOB_DELIVERIES, {"job_id": job_id})
        ]

    async def read_deliveries(self, job_id: str) -> list[DeliveryRecord]:
        rows = await self._db.read(q.JOB_DELIVERIES, {"job_id": job_id})
        return [delivery_from_row(row) for row in rows]

    def take_deliveries(
        self, now: float, hold_until: float, limit: int, *, per_url: int
    ) -> list[DeliveryRecord]:
        args = {"now": now, "hold_until": hold_until, "limit": limit, "per_url": per_url}
        # As claims do: on SQLite a write holds the whole database, so look first.
        if self._db.exclusive_writes and self._db.one(q.ANY_DUE_DELIVERY, args) is None:
            return []
        rows = self._db.write(lambda tx: tx.all(q.TAKE_DELIVERIES, args))
        return sorted(map(delivery_from_row, rows), key=lambda d: (d.next_at, d.created_at))

    def settle_delivery(
        self,
        taken: DeliveryRecord,
        state: DeliveryState,
        now: float,
        *,
        status: int | None,
        error: str | None,
        next_at: float | None = None,
    ) -> bool:
        args = {
            "id": taken.id,
            "attempts": taken.attempts,
            "state": state.value,
            "status": status,
            "error": error,
            "next_at": now if next_at is None else next_at,
            "finished_at": None if state is DeliveryState.PENDING else now,
        }
        return self._db.write(lambda tx: tx.one(q.SETTLE_DELIVERY, args)) is not None

    def put_back(self, taken: Sequence[DeliveryRecord], next_at: float) -> None:
        if taken:
            args = {"ids": self._db.array([d.id for d in taken]), "next_at": next_at}
            self._db.write(lambda tx: tx.run(q.PUT_BACK_DELIVERIES, args))
