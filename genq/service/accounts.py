"""Accounts and their keys: what a caller sees of its own account (its keys, its usage), what
the keys of an admin account see of every account, and the console's one-time sign-in.

Keys are rarely made or changed: these calls are the store's plain ones. A key disabled or
deleted here is forgotten by this process's key cache at once (other processes refuse it
within ``KEY_TTL_SECONDS``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from genq.credits import EXACT
from genq.errors import Clash, Forbidden, Missing, Unauthorized
from genq.jobs import Account, ApiKey
from genq.keys import hash_key, new_key
from genq.service.core import ServiceCore
from genq.store.base import AccountSummary, Usage

DAY = 86_400
#: The name of the key a console sign-in makes.
SIGN_IN_KEY_NAME = "console sign-in"


@dataclass(frozen=True)
class Tally:
    """Jobs of one model, or of one UTC day (``2026-12-01``), and what they cost."""

    name: str
    jobs: int
    spent: Decimal


@dataclass(frozen=True)
class UsageReport:
    """An account's balance, what its unfinished jobs hold, and its jobs of the last ``days``
    UTC days (today included), by model (most spent first) and by day (oldest first, every
    day of the window, with or without jobs)."""

    account: Account
    held: Decimal
    days: int
    by_model: list[Tally]
    by_day: list[Tally]


def known(id: str, what: str) -> str:
    """``id``, or the 404 for one no key or account can have (ids never hold a NUL, and
    PostgreSQL could not even look one up)."""
    if "\x00" in id:
        raise Missing(f"no {what} {id!r}", code=f"{what}_not_found")
    return id


class Accounts(ServiceCore):
    # -- the caller's own account ------------------------------------------------------------
    async def account_of(self, key: ApiKey) -> AccountSummary:
        """The account of the caller's key, with what its jobs hold and its keys."""
        account = await self._db(self.store.get_account, key.account_id)
        if account is None:  # deleted since the key was read
            raise Unauthorized("unknown API key")
        return await self._summary(account)

    async def keys_of(self, account_id: str) -> list[ApiKey]:
        """The account's keys, newest first."""
        return list(reversed(await self._db(self.store.list_keys, account_id)))

    async def add_key(self, account_id: str, name: str | None) -> tuple[ApiKey, str]:
        """A new key of the account: the stored key and the plain one, shown once."""
        return await self._db(new_key, self.store, account_id, name)

    async def set_key_disabled(
        self, key_id: str, disabled: bool, *, account_id: str | None
    ) -> ApiKey:
        """Disable or enable a key of the account ``account_id`` (None: of any account)."""
        key = await self._db(
            self.store.set_key_disabled, known(key_id, "key"), disabled, account_id=account_id
        )
        return self._changed(key, key_id)

    async def delete_key(self, key_id: str, *, account_id: str) -> ApiKey:
        """Delete a key of the account for good."""
        key = await self._db(self.store.delete_key, known(key_id, "key"), account_id=account_id)
        return self._changed(key, key_id)

    def _changed(self, key: ApiKey | None, key_id: str) -> ApiKey:
        if key is None:
            raise Missing(f"no key {key_id!r}", code="key_not_found")
        # Refused from now on in this process, whatever it changed: an enabled key is simply
        # read again.
        self._keys.forget(key.key_hash)
        return key

    async def usage(self, account_id: str, days: int, now: float | None = None) -> UsageReport:
        """The account's jobs created in the last ``days`` UTC days, today included, and
        what they cost."""
        today = int((time.time() if now is None else now) // DAY)
        first = today - days + 1
        rows = await self._db(self.store.usage, account_id, float(first * DAY))
        models: dict[str, Tally] = {}
        daily = {day: Tally(_day(day), 0, Decimal(0)) for day in range(first, today + 1)}
        for row in rows:
            models[row.model] = _add(models.get(row.model) or Tally(row.model, 0, Decimal(0)), row)
            # A job dated past today (another machine's clock runs ahead) counts as today's.
            day = min(row.day, today)
            daily[day] = _add(daily[day], row)
        summary = await self.account_summary(account_id)
        by_model = sorted(models.values(), key=lambda t: (-t.spent, -t.jobs, t.name))
        return UsageReport(summary.account, summary.held, days, by_model, list(daily.values()))

    async def account_summary(self, account_id: str) -> AccountSummary:
        """An account with what its unfinished jobs hold and its keys (404 for none)."""
        account = await self._db(self.store.get_account, account_id)
        if account is None:
            raise Missing(f"no account {account_id!r}", code="account_not_found")
        return await self._summary(account)

    async def _summary(self, account: Account) -> AccountSummary:
        held = await self._db(self.store.held, account.id)
        keys = await self._db(self.store.list_keys, account.id)
        return AccountSummary(account, held, len(keys))

    # -- admin -------------------------------------------------------------------------------
    async def require_admin(self, key: ApiKey) -> Account:
        """The key's account, when it is an admin account; else 403."""
        account = await self._db(self.store.get_account, key.account_id)
        if account is None or not account.admin:
            raise Forbidden("this needs a key of an admin account", code="forbidden")
        return account

    async def accounts(self) -> list[AccountSummary]:
        """Every account, by name."""
        return await self._db(self.store.list_accounts)

    async def create_account(
        self, name: str, credits: Decimal | None, admin: bool
    ) -> tuple[AccountSummary, ApiKey, str]:
        """A new account and its first key (the stored key and the plain one)."""
        account = await self._db(self.store.create_account, name, credits, time.time(), admin=admin)
        if account is None:
            raise Clash(f"an account is called {name!r} already", code="account_exists")
        key, raw = await self.add_key(account.id, None)
        return AccountSummary(account, Decimal(0), 1), key, raw

    async def add_credits(self, account_id: str, amount: Decimal) -> AccountSummary:
        """Raise a limited account's balance by ``amount``."""
        account = await self._db(self.store.add_credits, known(account_id, "account"), amount)
        if account is None:
            raise Missing(f"no account {account_id!r}", code="account_not_found")
        return await self._summary(account)

    async def all_keys(self) -> list[ApiKey]:
        """Every account's keys, newest first."""
        return list(reversed(await self._db(self.store.list_keys)))

    # -- the console's sign-in -----------------------------------------------------------------
    async def sign_in(self, token: str) -> tuple[ApiKey, str]:
        """A new key for the account of a one-time sign-in token, which is used up."""
        account_id = await self._db(self.store.take_sign_in, hash_key(token), time.time())
        if account_id is None:
            raise Unauthorized(
                "this sign-in link is unknown, used or expired: ask for a new one "
                "(`genq console-link`)",
                code="invalid_sign_in_token",
            )
        return await self.add_key(account_id, SIGN_IN_KEY_NAME)


def _add(tally: Tally, usage: Usage) -> Tally:
    return Tally(tally.name, tally.jobs + usage.jobs, EXACT.add(tally.spent, usage.spent))


def _day(day: int) -> str:
    return datetime.fromtimestamp(day * DAY, UTC).date().isoformat()
