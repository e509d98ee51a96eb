"""The accounts, API keys and sign-in tokens part of the SQL job store
(``genq.store.core.SQLStore``): rows of their own, which no job change touches."""

from __future__ import annotations

import uuid
from decimal import Decimal

from genq.account_limits import DEFAULT_WEIGHT, LIMIT_NAMES, AccountUsage
from genq.credits import MAX_MICROS, from_micros, to_micros
from genq.errors import Clash, ValidationFailed
from genq.jobs import Account, ApiKey
from genq.store import queries as q
from genq.store.base import AccountSummary, Usage
from genq.store.engine import Engine, Tx
from genq.store.rows import Row, account_from_row, balance_micros, key_from_row

#: Sign-in tokens are kept this long past their expiry (they are all one-time, 10 minutes).
FORGET_SIGN_IN_SECONDS = 86_400.0


class AccountStatements:
    _db: Engine

    # -- accounts --------------------------------------------------------------------------
    def _account_args(
        self, name: str, credits: Decimal | None, now: float, admin: bool
    ) -> dict[str, object]:
        return {
            "id": f"acct_{uuid.uuid4().hex[:16]}",
            "name": name,
            "credits_micros": balance_micros(credits),
            "created_at": now,
            "admin": admin,
        }

    def ensure_account(
        self, name: str, credits: Decimal | None, now: float, *, admin: bool = False
    ) -> Account:
        args = self._account_args(name, credits, now, admin)

        def run(tx: Tx) -> Row | None:
            made = tx.one(q.INSERT_ACCOUNT, args)
            if made is not None:
                return made
            return tx.one(q.MAKE_ADMIN if admin else q.ACCOUNT_BY_NAME, args)

        row = self._db.write(run)
        assert row is not None
        return account_from_row(row)

    def create_account(
        self, name: str, credits: Decimal | None, now: float, *, admin: bool = False
    ) -> Account | None:
        args = self._account_args(name, credits, now, admin)
        row = self._db.write(lambda tx: tx.one(q.INSERT_ACCOUNT, args))
        return None if row is None else account_from_row(row)

    def get_account(self, account_id: str) -> Account | None:
        row = self._db.one(q.ACCOUNT, {"id": account_id})
        return None if row is None else account_from_row(row)

    def find_account(self, name: str) -> Account | None:
        row = self._db.one(q.ACCOUNT_BY_NAME, {"name": name})
        return None if row is None else account_from_row(row)

    def list_accounts(self) -> list[AccountSummary]:
        return [
            AccountSummary(account_from_row(row), _sum(row["held"]), int(row["keys"]))
            for row in self._db.all(q.ACCOUNTS, {})
        ]

    def held(self, account_id: str) -> Decimal:
        row = self._db.one(q.HELD, {"account_id": account_id})
        return _sum(0 if row is None else row["held"])

    def add_credits(self, account_id: str, amount: Decimal) -> Account | None:
        micros = to_micros(amount)
        args = {"id": account_id, "amount": micros}

        def run(tx: Tx) -> Row | None:
            with tx.atomic():
                row = tx.one(q.LOCK_ACCOUNT, args)
                if row is None:
                    return None
                balance = row["credits_micros"]
                if balance is None:
                    raise Clash(
                        f"account {row['name']!r} has no limit: it needs no credits",
                        code="unlimited_account",
                    )
                if balance > MAX_MICROS - micros:
                    raise ValidationFailed.at("amount", "the balance would pass the most it holds")
                return tx.one(q.ADD_CREDITS, args)

        row = self._db.write(run)
        return None if row is None else account_from_row(row)

    def usage(self, account_id: str, since: float) -> list[Usage]:
        rows = self._db.all(q.USAGE, {"account_id": account_id, "since": since})
        return [
            Usage(row["model"], int(row["day"]), int(row["jobs"]), _sum(row["spent"]))
            for row in rows
        ]

    # -- an account's weight and limits (genq.account_limits) ---------------------------------
    def set_account_limits(
        self, account_id: str, changes: dict[str, int | float | None]
    ) -> Account | None:
        unknown = set(changes) - {"weight", *LIMIT_NAMES}
        assert not unknown, f"not a limit: {unknown}"
        args: dict[str, object] = {"id": account_id, **changes}
        if "weight" in changes and changes["weight"] is None:
            args["weight"] = DEFAULT_WEIGHT
        if not changes:
            row = self._db.one(q.ACCOUNT, args)
        else:
            sql = q.set_account_limits(tuple(sorted(changes)))
            row = self._db.write(lambda tx: tx.one(sql, args))
        return None if row is None else account_from_row(row)

    def account_usage(self, account_id: str, now: float) -> AccountUsage:
        row = self._db.one(q.ACCOUNT_USAGE, {"account_id": account_id, "now": now})
        return AccountUsage() if row is None else _usage_of(row)

    def accounts_usage(self, now: float) -> dict[str, AccountUsage]:
        rows = self._db.all(q.ACCOUNTS_USAGE, {"now": now})
        return {row["account_id"]: _usage_of(row) for row in rows}

    def stored_bytes(self, account_id: str, now: float) -> int:
        row = self._db.one(q.STORED_BYTES, {"account_id": account_id, "now": now})
        # PostgreSQL's SUM of a BIGINT is a NUMERIC.
        return 0 if row is None else int(row["stored"])

    # -- keys ------------------------------------------------------------------------------
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

    def list_keys(self, account_id: str | None = None) -> list[ApiKey]:
        if account_id is None:
            return [key_from_row(r) for r in self._db.all(q.KEYS, {})]
        return [key_from_row(r) for r in self._db.all(q.ACCOUNT_KEYS, {"account_id": account_id})]

    def set_key_disabled(
        self, key_id: str, disabled: bool, *, account_id: str | None = None
    ) -> ApiKey | None:
        args = {"id": key_id, "account_id": account_id, "disabled": disabled}
        row = self._db.write(lambda tx: tx.one(q.DISABLE_KEY, args))
        return None if row is None else key_from_row(row)

    def delete_key(self, key_id: str, *, account_id: str | None = None) -> ApiKey | None:
        args = {"id": key_id, "account_id": account_id}
        row = self._db.write(lambda tx: tx.one(q.DELETE_KEY, args))
        return None if row is None else key_from_row(row)

    def touch_key(self, key_id: str, now: float, every: float) -> None:
        args = {"id": key_id, "now": now, "before": now - every}
        self._db.write(lambda tx: tx.run(q.TOUCH_KEY, args))

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = self._db.one(q.KEY_BY_HASH, {"key_hash": key_hash})
        return None if row is None else key_from_row(row, with_limits=True)

    async def read_key(self, key_hash: str) -> ApiKey | None:
        rows = await self._db.read(q.KEY_BY_HASH, {"key_hash": key_hash})
        return key_from_row(rows[0], with_limits=True) if rows else None

    # -- the console's sign-in tokens ------------------------------------------------------
    def create_sign_in(
        self, token_hash: str, account_id: str, now: float, expires_at: float
    ) -> None:
        args = {
            "token_hash": token_hash,
            "account_id": account_id,
            "now": now,
            "expires_at": expires_at,
            "before": now - FORGET_SIGN_IN_SECONDS,
        }

        def run(tx: Tx) -> None:
            # Tokens are few (one per sign-in link): the old ones go as new ones come.
            tx.run(q.FORGET_SIGN_INS, args)
            tx.run(q.INSERT_SIGN_IN, args)

        self._db.write(run)

    def take_sign_in(self, token_hash: str, now: float) -> str | None:
        args = {"token_hash": token_hash, "now": now}
        row = self._db.write(lambda tx: tx.one(q.TAKE_SIGN_IN, args))
        return None if row is None else str(row["account_id"])


def _usage_of(row: Row) -> AccountUsage:
    return AccountUsage(int(row["queued"]), int(row["running"]), int(row["stored"] or 0))


def _sum(micros: int | Decimal) -> Decimal:
    """A SQL sum of micro-credits as credits (PostgreSQL's SUM of a BIGINT is a NUMERIC)."""
    return from_micros(int(micros))
