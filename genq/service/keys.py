"""Who is calling: API keys checked against the store, and remembered for a second.

A status poll is the most frequent request genq answers, and reading its key's row costs as
much as reading the job. A known, enabled key is kept for ``KEY_TTL_SECONDS``
after it was read: a key disabled or deleted by another process (``genq keys``) is refused
within that time, in every process. Unknown and disabled keys are never kept, so they are
refused at once, and a flood of made-up keys cannot grow the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from genq.jobs import ApiKey

#: Longest a key disabled or deleted elsewhere may still be accepted.
KEY_TTL_SECONDS = 1.0
#: Keys kept at once; past that, the oldest go first.
MAX_KEPT_KEYS = 10_000


class KeyCache:
    """Enabled keys by their hash (never the plain key, which lives no longer than its
    request), each for ``ttl`` seconds after it was read."""

    def __init__(
        self,
        ttl: float = KEY_TTL_SECONDS,
        *,
        size: int = MAX_KEPT_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys: TTLCache[str, ApiKey] = TTLCache(size, ttl, timer=clock)

    def get(self, key_hash: str) -> ApiKey | None:
        return self._keys.get(key_hash)

    def keep(self, key_hash: str, key: ApiKey) -> None:
        self._keys[key_hash] = key
