"""The accounts and API keys part of the SQL job store (``genq.store.core.SQLStore``): rows of
their own, which no job change touches."""

from __future__ import annotations

import uuid
from decimal import Decimal

from genq.jobs import Account, ApiKey
from genq.store import queries as q
from genq.store.engine import Engine, Tx
from genq.store.rows import Row, account_from_row, balance_micros, key_from_row


class AccountStatements:
    _db: Engine

    def ensure_account(self, name: str, credits: Decimal | None, now: float) -> Account:
        id = f"acct_{uuid.uuid4().hex[:16]}"
        args = dict(id=id, name=name, credits_micros=balance_micros(credits), created_at=now)

        def run(tx: Tx) -> Row | None:
            return tx.one(q.INSERT_ACCOUNT, args) or tx.one(q.ACCOUNT_BY_NAME, args)

        row = self._db.write(run)
        assert row is not None
        return account_from_row(row)

    def get_account(self, account_id: str) -> Account | None:
        row = self._db.one(q.ACCOUNT, {"id": account_id})
        return None if row is None else account_from_row(row)

    def create_key(
        self, key_id: str, account_id: str, name: str | None, key_hash: str, prefix: str, now: float
    ) -> ApiKey:
        args = {
            "id": key_id,
            "account_id": account_id,
            "name": name,
            "key_hash": key_hash,
            "prefix": prefix,
            "created_at": now,
        }
        row = self._db.write(lambda tx: tx.one(q.INSERT_KEY, args))
        assert row is not None
        return key_from_row(row)

    def list_keys(self) -> list[ApiKey]:
        return [key_from_row(r) for r in self._db.all(q.KEYS, {})]

    def set_key_disabled(self, key_id: str, disabled: bool) -> bool:
        args = {"id": key_id, "disabled": disabled}
        return self._db.write(lambda tx: tx.one(q.DISABLE_KEY, args)) is not None

    def delete_key(self, key_id: str) -> bool:
        return self._db.write(lambda tx: tx.one(q.DELETE_KEY, {"id": key_id})) is not None

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = self._db.one(q.KEY_BY_HASH, {"key_hash": key_hash})
        return None if row is None else key_from_row(row)

    async def read_key(self, key_hash: str) -> ApiKey | None:
        rows = await self._db.read(q.KEY_BY_HASH, {"key_hash": key_hash})
        return key_from_row(rows[0]) if rows else None
