"""An account's weight and limits on the command line (``genq accounts limits``, the limits
column of ``genq accounts list``): what an option's words mean, and how limits are shown.
The rules are ``genq.account_limits``'."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from genq.account_limits import AccountUsage, Limit, checked

#: What a byte count may end with (``10GiB``, ``500 MB``, ``1e9``): powers of 1000 and 1024.
UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
}
_AMOUNT = re.compile(r"\s*([-+0-9.eE]+)\s*([A-Za-z]*)\s*")
#: Short names of the limits, as the list shows them.
SHORT = {
    "max_running": "running",
    "max_queued": "queued",
    "rate_per_second": "rate",
    "rate_burst": "burst",
    "storage_quota_bytes": "quota",
}


def parse_limit(name: str, text: str) -> int | float | None:
    """An option's value for the limit (or weight) ``name``: ``default`` (None: the
    configured default, for the weight 1), ``none`` (0: no limit), or a number; a byte count
    for the quota may carry a unit. ``ValueError`` says what is wrong."""
    word = text.strip().lower()
    if word == "default":
        return None
    if word == "none":
        if name == "weight":
            raise ValueError("a weight is a number more than 0 (or 'default')")
        return 0
    match = _AMOUNT.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in UNITS or (unit and name != "storage_quota_bytes"):
        raise ValueError(f"not a number: {text!r}")
    try:
        amount = Decimal(match.group(1)) * UNITS[unit]
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    return checked(name, amount)


def byte_size(size: int) -> str:
    """``512 B``, ``1.5 GiB``: powers of 1024."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def limit_text(name: str, limit: Limit) -> str:
    """One limit's value in words: ``no limit``, ``1.5 GiB``, ``2.5/s``, ``10``."""
    if limit.value is None:
        return "no limit"
    if name == "storage_quota_bytes":
        return byte_size(int(limit.value))
    if name == "rate_per_second":
        return f"{limit.value:g}/s"
    return f"{limit.value:g}"


def limits_summary(limits: dict[str, Limit]) -> str:
    """The limits that apply, in one short line (``*``: the account's own, not the
    default); ``none`` when none does."""
    parts = [
        f"{SHORT[name]} {limit_text(name, limit)}{'*' if limit.source == 'account' else ''}"
        for name, limit in limits.items()
        if limit.value is not None
    ]
    return ", ".join(parts) or "none"


def limits_report(name: str, weight: float, limits: dict[str, Limit], usage: AccountUsage) -> str:
    """An account's weight, each limit with where it comes from, and what they count."""
    lines = [f"{name}: weight {weight:g}"]
    for limit_name, limit in limits.items():
        value = limit_text(limit_name, limit)
        lines.append(f"  {limit_name:<20} {value:<12} ({limit.source})")
    lines.append(
        f"usage: {usage.queued} queued, {usage.running} running,"
        f" {byte_size(usage.stored_bytes)} stored"
    )
    return "\n".join(lines)
