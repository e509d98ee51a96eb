"""Requests per second per key: a token bucket for each key, kept in the API process.

A key's bucket holds at most ``burst`` tokens and refills at ``rate`` tokens a second; each
request takes one, and a request that finds none is refused with 429 ``rate_limited`` and
``Retry-After``: the whole seconds until a token is back. The rate and the burst are the key's
account's (``accounts.rate_per_second``, ``accounts.rate_burst``), or where it has none (NULL)
the settings' (``rate_limit_per_second``, ``rate_limit_burst``); 0 for either means no limit.
Without a burst anywhere it is twice the rate (at least 1): a client that polls at the rate
may still send a few requests at once. The account's columns come with the key's own read
(``KEY_BY_HASH``), so the limit costs no store call of its own, and a change of them counts
within the key cache's second (``genq.service.keys``).

Each API process keeps its own buckets: with several API processes (PostgreSQL), each allows
a key the whole rate unless ``rate_limit_processes`` is set to their number, which gives each
process that share of the rate and the burst (the burst rounded up), so that together they
allow the key about its rate wherever its requests land. Buckets in PostgreSQL would make the
limit exact, but every request, status polls included, would then write a row of its key and
wait on the database for it: more than a status read costs now, on the path that must stay
cheapest.

Why not a library: ``aiolimiter`` waits for capacity rather than refusing; ``token-bucket``
answers only yes or no, while ``Retry-After`` and the ``RateLimit-*`` headers need the tokens
left and when the next one comes; ``limits`` counts windows rather than a bucket. The bucket
is a few lines of arithmetic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from genq.errors import RequestRateExceeded
from genq.jobs import AccountLimits, ApiKey

#: Buckets kept at once; past that, full ones (idle keys, which a new bucket would equal) are
#: dropped first, then the oldest.
MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Quota:
    """What one process allows a key: ``rate`` tokens a second, at most ``burst`` held."""

    rate: float
    burst: int


class Allowance(NamedTuple):
    """What a key has left after a request, as the ``RateLimit-*`` headers say it. (A named
    tuple: made on every request of a limited key, at a third of a frozen dataclass's cost.)"""

    #: The burst: requests the key may send at once when it has sent none for a while.
    limit: int
    #: Requests it may send now.
    remaining: int
    #: Whole seconds until its bucket is full again.
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers`` as an ASGI answer carries them."""
        return [
            (b"ratelimit-limit", b"%d" % self.limit),
            (b"ratelimit-remaining", b"%d" % self.remaining),
            (b"ratelimit-reset", b"%d" % self.reset),
        ]


class _Bucket:
    __slots__ = ("at", "limits", "quota", "tokens")

    def __init__(self, quota: Quota, limits: AccountLimits | None, now: float) -> None:
        self.quota = quota
        #: The account limits the quota was worked out from (the key's, as last read).
        self.limits = limits
        self.tokens = float(quota.burst)
        self.at = now


class RateLimiter:
    """The buckets of one process's keys, under the configured defaults."""

    def __init__(
        self,
        rate: float | None = None,
        burst: int | None = None,
        *,
        processes: int = 1,
        size: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.processes = processes
        self.size = size
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def quota(self, limits: AccountLimits | None) -> Quota | None:
        """This process's quota for a key whose account has ``limits`` (None: not read, the
        defaults apply); None when the key is not limited."""
        rate = (
            self.rate
            if limits is None or limits.rate_per_second is None
            else limits.rate_per_second
        )
        if not rate or rate <= 0:
            return None
        burst = self.burst if limits is None or limits.rate_burst is None else limits.rate_burst
        if burst is None:
            burst = max(1, math.ceil(2 * rate))
        if burst <= 0:
            return None
        return Quota(rate / self.processes, max(1, math.ceil(burst / self.processes)))

    def take(self, key: ApiKey) -> Allowance | None:
        """Take a token of ``key``'s bucket: what it has left, or None when it is not limited;
        ``RequestRateExceeded`` when it has none."""
        bucket = self._buckets.get(key.id)
        if bucket is None or bucket.limits is not key.limits:
            bucket = self._renew(key, bucket)
            if bucket is None:
                return None
        now = self.clock()
        quota = bucket.quota
        tokens = min(quota.burst, bucket.tokens + (now - bucket.at) * quota.rate)
        bucket.at = now
        if tokens >= 1:
            bucket.tokens = tokens = tokens - 1
            return Allowance(
                quota.burst, int(tokens), math.ceil((quota.burst - tokens) / quota.rate)
            )
        bucket.tokens = tokens
        wait = max(1, math.ceil((1 - tokens) / quota.rate))
        left = Allowance(quota.burst, 0, math.ceil((quota.burst - tokens) / quota.rate))
        raise RequestRateExceeded(
            f"this key may send {quota.rate:g} requests a second (up to {quota.burst} at once)"
            f" and has sent more: retry in {wait} s",
            headers={"Retry-After": str(wait), **left.headers()},
        )

    def _renew(self, key: ApiKey, bucket: _Bucket | None) -> _Bucket | None:
        """The key's bucket under the limits it was last read with: a new (full) one, or the
        one it had with its tokens kept (up to a smaller burst); None when it is not limited."""
        quota = self.quota(key.limits)
        if quota is None:
            self._buckets.pop(key.id, None)
            return None
        now = self.clock()
        if bucket is None:
            if len(self._buckets) >= self.size:
                self._prune(now)
            bucket = self._buckets[key.id] = _Bucket(quota, key.limits, now)
        else:
            bucket.tokens = min(quota.burst, bucket.tokens + (now - bucket.at) * bucket.quota.rate)
            bucket.at, bucket.quota, bucket.limits = now, quota, key.limits
        return bucket

    def _prune(self, now: float) -> None:
        for key_id, bucket in list(self._buckets.items()):
            quota = bucket.quota
            if bucket.tokens + (now - bucket.at) * quota.rate >= quota.burst:
                del self._buckets[key_id]
        if len(self._buckets) >= self.size:
            # Still full of busy keys: the oldest half go (each may then burst once more).
            for key_id in list(self._buckets)[: len(self._buckets) - self.size // 2]:
                del self._buckets[key_id]
