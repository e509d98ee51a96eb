"""An account's limits as the service applies them (the rules are ``genq.account_limits``):
the storage quota a submit meets, an account's limits and usage as its views show them, and
an admin's change of its weight and limits.

The quota check reads the account's stored bytes (a sum over its jobs: 0.1-0.15 s on either
engine for an account with 100,000 jobs) at most once every ``STORED_BYTES_SECONDS`` per
process and account, and only for an account that has a quota; the account's own limits are
read as often. A change made in this process (an admin's, a job deleted) counts at once; one
made in another process within that time. The account views count afresh on each read. Every
such sum runs in a thread, so that on SQLite it never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass

from cachetools import TTLCache

from genq import account_limits
from genq.account_limits import STORED_BYTES_SECONDS, AccountUsage, Limit, LimitDefaults
from genq.errors import Missing
from genq.jobs import Account
from genq.service.accounts import known
from genq.service.core import ServiceCore
from genq.settings import Settings

#: Accounts whose limits and stored bytes a process keeps at once.
MAX_KEPT = 100_000


@dataclass(frozen=True)
class AccountLimitsView:
    """An account with its limits as they apply (by name, ``LIMIT_NAMES``) and what they
    count."""

    account: Account
    limits: dict[str, Limit]
    usage: AccountUsage


def limit_defaults(settings: Settings) -> LimitDefaults:
    """The defaults of every account's limits that ``settings`` configure."""
    return LimitDefaults(
        max_running=settings.max_running_per_account,
        max_queued=settings.max_queued_per_account,
        rate_per_second=settings.rate_limit_per_second,
        rate_burst=settings.rate_limit_burst,
        storage_quota_bytes=settings.storage_quota_bytes,
    )


class Quotas(ServiceCore):
    @functools.cached_property
    def _limited_accounts(self) -> TTLCache[str, Account]:
        return TTLCache(maxsize=MAX_KEPT, ttl=STORED_BYTES_SECONDS)

    @functools.cached_property
    def _stored(self) -> TTLCache[str, int]:
        return TTLCache(maxsize=MAX_KEPT, ttl=STORED_BYTES_SECONDS)

    @property
    def limit_defaults(self) -> LimitDefaults:
        """The configured defaults of every account's limits."""
        return limit_defaults(self.settings)

    async def check_quota(self, account_id: str) -> None:
        """Refuse a submit (403 ``quota_exceeded``) while the account's stored outputs hold
        its quota or more."""
        over = await self.over_quota(account_id)
        if over is not None:
            account_limits.check_quota(*over)

    async def over_quota(self, account_id: str) -> tuple[int, int] | None:
        """The account's stored bytes and its quota when they hold it or more; else None."""
        account = self._limited_accounts.get(account_id)
        if account is None:
            account = await self._db(self.store.get_account, account_id)
            if account is None:
                return None  # the store refuses the submit itself
            self._limited_accounts[account_id] = account
        quota = account_limits.cap(
            account.limits.storage_quota_bytes, self.settings.storage_quota_bytes
        )
        if quota is None:
            return None
        used = self._stored.get(account_id)
        if used is None:
            used = await asyncio.to_thread(self.store.stored_bytes, account_id, time.time())
            self._stored[account_id] = used
        return (used, quota) if used >= quota else None

    def forget_stored(self, account_id: str) -> None:
        """Read the account's stored bytes afresh at its next submit (its job was deleted)."""
        self._stored.pop(account_id, None)

    async def limits_of(self, account: Account) -> AccountLimitsView:
        """The account's limits as they apply, and what they count now."""
        # Its stored bytes are a sum over its jobs: off the event loop, whatever the engine.
        usage = await asyncio.to_thread(self.store.account_usage, account.id, time.time())
        return self.view(account, usage)

    async def accounts_limits(self) -> dict[str, AccountUsage]:
        """What every account's limits count now, by account id (one pass over the jobs)."""
        return await asyncio.to_thread(self.store.accounts_usage, time.time())

    def view(self, account: Account, usage: AccountUsage | None) -> AccountLimitsView:
        """``limits_of`` with the usage already read (None: none counted)."""
        limits = account_limits.effective(account, self.limit_defaults)
        return AccountLimitsView(account, limits, usage or AccountUsage())

    async def set_limits(
        self, account_id: str, changes: dict[str, int | float | None]
    ) -> AccountLimitsView:
        """Set an account's weight (None: back to 1) and limits (None: back to the default,
        0: none); the values are checked by the caller (``genq.account_limits.MAXIMA``)."""
        account = await self._db(
            self.store.set_account_limits, known(account_id, "account"), changes
        )
        if account is None:
            raise Missing(f"no account {account_id!r}", code="account_not_found")
        self._limited_accounts.pop(account.id, None)
        return await self.limits_of(account)
