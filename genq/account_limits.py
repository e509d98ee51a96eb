"""An account's limits: the one place that says what each one is and how it is checked.

Each limit is the account's own value, set by an admin (``PATCH /v1/admin/accounts/{id}``,
``genq accounts limits``), or where it has none (NULL in ``accounts``) the configured default
(``max_running_per_account``, ``max_queued_per_account``, ``storage_quota_bytes``, and the
per-key rate settings); 0, as either, means no limit.

- ``max_running``: jobs of the account running at once; the claim leaves the account's
  queued jobs to wait while it has that many running (``genq.store.fair``).
- ``max_queued``: jobs of the account queued at once; a submit that would pass it is refused
  with 429 ``too_many_queued``. The count is taken in the submit's own write transaction, with
  the account's row locked (on PostgreSQL, ``FOR UPDATE``; SQLite holds the whole database),
  so concurrent submits, from any number of API processes, never pass it.
- ``storage_quota_bytes``: bytes the account's kept outputs hold (``jobs.output_bytes`` of its
  live jobs); a submit while they hold that much or more is refused with 403
  ``quota_exceeded`` (unless the submit replays a job it made). It is checked against a
  reading at most ``STORED_BYTES_SECONDS`` old in each process, and the outputs of jobs
  already queued or running count only once written: an account can pass its quota by what
  those jobs write.
- ``rate_per_second`` and ``rate_burst``: requests per second per key.

``weight`` is not a limit: it is the account's share of worker time against other accounts'
(1 unless an admin set another), which the claim's fair share reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from genq.errors import Forbidden, TooManyRequests
from genq.jobs import Account

#: The limits an admin may set, as ``AccountLimits`` and the ``accounts`` columns name them.
LIMIT_NAMES = ("max_running", "max_queued", "rate_per_second", "rate_burst", "storage_quota_bytes")
#: The most each setting may be: beyond any real need, within what the columns (and JSON
#: readers' numbers) hold exactly.
MAXIMA: dict[str, float] = {
    "weight": 1000.0,
    "max_running": 1_000_000,
    "max_queued": 100_000_000,
    "rate_per_second": 1_000_000.0,
    "rate_burst": 1_000_000,
    "storage_quota_bytes": 2**53 - 1,
}
#: The limits counted in whole numbers (the others, and the weight, may have a fraction).
WHOLE = frozenset({"max_running", "max_queued", "rate_burst", "storage_quota_bytes"})
#: The weight of an account whose admin set none.
DEFAULT_WEIGHT = 1.0
#: How old the stored bytes a submit's quota check reads may be, in seconds.
STORED_BYTES_SECONDS = 2.0

Source = Literal["account", "default"]


@dataclass(frozen=True)
class Limit:
    """One limit as it applies: its value (None: no limit) and where it comes from."""

    value: int | float | None
    source: Source


@dataclass(frozen=True)
class LimitDefaults:
    """The configured defaults (None or 0: no limit)."""

    max_running: int | None = None
    max_queued: int | None = None
    rate_per_second: float | None = None
    rate_burst: int | None = None
    storage_quota_bytes: int | None = None


@dataclass(frozen=True)
class AccountUsage:
    """What an account's limits count: its jobs queued and running, its stored bytes."""

    queued: int = 0
    running: int = 0
    stored_bytes: int = 0


#: The least weight an account may have: less would make its claims' charges overflow.
MIN_WEIGHT = 0.001


def checked(name: str, value: object) -> int | float:
    """``value`` as the weight or limit ``name`` takes it: a number (an ``int``, ``float`` or
    ``Decimal``, not a ``bool``), whole where ``name`` is in ``WHOLE``, not negative, at most
    ``MAXIMA[name]``, and for the weight more than 0. ``ValueError`` says what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    whole = name in WHOLE
    if whole and value != int(value):
        raise ValueError("must be a whole number")
    number: int | float = int(value) if whole else float(value)
    if number < 0:
        raise ValueError("must not be negative")
    if name == "weight" and number < MIN_WEIGHT:
        raise ValueError(f"must be at least {MIN_WEIGHT}")
    most = MAXIMA[name]
    if number > most:
        raise ValueError(f"must be at most {int(most) if whole else most}")
    return number


def applied(own: int | float | None, default: int | float | None) -> Limit:
    """The limit an account's own value (None: unset) and the default make."""
    if own is not None:
        return Limit(own or None, "account")
    return Limit(default or None, "default")


def cap(own: int | None, default: int | None) -> int | None:
    """The value of ``applied``: None for no limit."""
    value = own if own is not None else default
    return value or None


def effective(account: Account, defaults: LimitDefaults) -> dict[str, Limit]:
    """Each of the account's limits as it applies, by name (``LIMIT_NAMES``)."""
    limits = {
        name: applied(getattr(account.limits, name), getattr(defaults, name))
        for name in LIMIT_NAMES
    }
    # As genq.service.rate_limits applies them: a burst of 0 lifts the rate limit too, and a
    # burst set nowhere is twice the rate.
    rate, burst = limits["rate_per_second"], limits["rate_burst"]
    own = account.limits.rate_burst
    burst_set = own if own is not None else defaults.rate_burst
    if rate.value is None or burst_set == 0:
        limits["rate_per_second"] = Limit(None, rate.source)
        limits["rate_burst"] = Limit(None, burst.source)
    elif burst_set is None:
        limits["rate_burst"] = Limit(max(1, math.ceil(2 * rate.value)), "default")
    return limits


def check_queued(queued: int, adding: int, most: int | None) -> None:
    """Refuse ``adding`` more jobs to an account with ``queued`` queued, beyond ``most``."""
    if most is None or queued + adding <= most:
        return
    more = "a job" if adding == 1 else f"{adding} jobs"
    raise TooManyRequests(
        f"the account has {queued} jobs queued, and may have at most {most}: {more} more"
        " can be queued once some of them start",
        code="too_many_queued",
        details={"queued": queued, "max_queued": most, "submitted": adding},
    )


def check_quota(used: int, quota: int | None) -> None:
    """Refuse a submit of an account whose outputs hold ``quota`` bytes or more."""
    if quota is None or used < quota:
        return
    raise Forbidden(
        f"the account's stored outputs hold {used} bytes, its quota is {quota}:"
        " delete jobs to free space",
        code="quota_exceeded",
        details={"used_bytes": used, "quota_bytes": quota},
    )
