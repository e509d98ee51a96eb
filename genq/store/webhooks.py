"""The webhooks part of the SQL job store (``genq.store.core.SQLStore``): each account's
default signing secret and its registered endpoints, and the outbox of webhook calls. A call
is added only by the change of a job that makes it due (``SQLStore.change``) or sent again by
its account (``redeliver``); here it is read, taken, and settled."""

from __future__ import annotations

from collections.abc import Sequence

from genq.jobs import DeliveryRecord, DeliveryState, WebhookEndpoint
from genq.store import queries as q
from genq.store.engine import Engine, Tx
from genq.store.rows import Row, delivery_from_row, endpoint_from_row


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

    # -- endpoints ---------------------------------------------------------------------
    def _endpoint(self, row: Row | None) -> WebhookEndpoint | None:
        return None if row is None else endpoint_from_row(row, self._db.decode)

    def add_endpoint(self, endpoint: WebhookEndpoint, most: int) -> bool:
        db = self._db
        args = {
            "id": endpoint.id,
            "account_id": endpoint.account_id,
            "url": endpoint.url,
            "events": db.json([e.value for e in endpoint.events]),
            "models": None if endpoint.models is None else db.json(list(endpoint.models)),
            "description": endpoint.description,
            "secret": endpoint.secret,
            "created_at": endpoint.created_at,
            "most": most,
        }

        def run(tx: Tx) -> bool:
            with tx.atomic():
                if not db.exclusive_writes:
                    # Two adds at once count one after the other.
                    tx.run(q.LOCK_ACCOUNT, {"id": endpoint.account_id})
                return tx.one(q.INSERT_ENDPOINT, args) is not None

        return db.write(run)

    def endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        rows = self._db.all(q.ENDPOINTS, {"account_id": account_id})
        return [endpoint_from_row(row, self._db.decode) for row in rows]

    def get_endpoint(self, endpoint_id: str, account_id: str | None) -> WebhookEndpoint | None:
        return self._endpoint(
            self._db.one(q.ENDPOINT, {"id": endpoint_id, "account_id": account_id})
        )

    def _ending(
        self, sql: str, endpoint_id: str, account_id: str | None, now: float, reason: str
    ) -> Row | None:
        args = {"id": endpoint_id, "account_id": account_id, "now": now, "reason": reason}

        def run(tx: Tx) -> Row | None:
            with tx.atomic():
                row = tx.one(sql, args)
                if row is not None:
                    tx.run(q.FAIL_ENDPOINT_DELIVERIES, args)
                return row

        return self._db.write(run)

    def delete_endpoint(self, endpoint_id: str, account_id: str, now: float) -> bool:
        reason = "the webhook endpoint was deleted"
        return self._ending(q.DELETE_ENDPOINT, endpoint_id, account_id, now, reason) is not None

    def disable_endpoint(
        self, endpoint_id: str, account_id: str | None, now: float, reason: str
    ) -> WebhookEndpoint | None:
        return self._endpoint(
            self._ending(q.DISABLE_ENDPOINT, endpoint_id, account_id, now, reason)
        )

    def enable_endpoint(self, endpoint_id: str, account_id: str) -> WebhookEndpoint | None:
        args = {"id": endpoint_id, "account_id": account_id}
        return self._endpoint(self._db.write(lambda tx: tx.one(q.ENABLE_ENDPOINT, args)))

    def rotate_endpoint_secret(
        self, endpoint_id: str, account_id: str, secret: str, now: float, previous_until: float
    ) -> WebhookEndpoint | None:
        args = {
            "id": endpoint_id,
            "account_id": account_id,
            "secret": secret,
            "now": now,
            "previous_until": previous_until,
        }
        return self._endpoint(self._db.write(lambda tx: tx.one(q.ROTATE_ENDPOINT_SECRET, args)))

    # -- calls --------------------------------------------------------------------------
    def list_deliveries(
        self,
        account_id: str,
        *,
        job_id: str | None = None,
        endpoint_id: str | None = None,
        state: DeliveryState | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        sql = q.list_deliveries(
            job_id is not None, endpoint_id is not None, state is not None, before is not None
        )
        args = {
            "account_id": account_id,
            "job_id": job_id,
            "endpoint_id": endpoint_id,
            "state": None if state is None else state.value,
            "before_at": None if before is None else before[0],
            "before_id": None if before is None else before[1],
            "limit": limit,
        }
        return [delivery_from_row(row) for row in self._db.all(sql, args)]

    async def has_calls(self, account_id: str) -> bool:
        return bool(await self._db.read(q.ANY_CALL_OF, {"account_id": account_id}))

    def endpoint_had_calls(self, endpoint_id: str) -> bool:
        return self._db.one(q.ANY_CALL_OF_ENDPOINT, {"id": endpoint_id}) is not None

    def get_delivery(self, delivery_id: str, account_id: str) -> DeliveryRecord | None:
        row = self._db.one(q.DELIVERY, {"id": delivery_id, "account_id": account_id})
        return None if row is None else delivery_from_row(row)

    def redeliver(self, delivery_id: str, account_id: str, now: float) -> DeliveryRecord | None:
        args = {"id": delivery_id, "account_id": account_id, "now": now}

        def run(tx: Tx) -> Row | None:
            # One still pending is left as it is.
            return tx.one(q.REDELIVER, args) or tx.one(q.DELIVERY, args)

        row = self._db.write(run)
        return None if row is None else delivery_from_row(row)

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
            "held": taken.next_at,
        }
        return self._db.write(lambda tx: tx.one(q.SETTLE_DELIVERY, args)) is not None

    def put_back(self, taken: Sequence[DeliveryRecord], next_at: float) -> None:
        if taken:
            args = {"ids": self._db.array([d.id for d in taken]), "next_at": next_at}
            self._db.write(lambda tx: tx.run(q.PUT_BACK_DELIVERIES, args))
