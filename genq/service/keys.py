"""Who is calling: API keys checked against the store, and remembered for a second.

A status poll is the most frequent request genq answers, and reading its key's row costs as
much as reading the job. A known, enabled key is kept for ``KEY_TTL_SECONDS``
after it was read: a key disabled or deleted by another process (``genq keys``) is refused
within that time, in every process. A key disabled or deleted through this process's API is
forgotten at once, and so refused at once here. Unknown and disabled keys are never kept, so
they are refused at once, and a flood of made-up keys cannot grow the cache.
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
        self._forgotten = 0

    def get(self, key_hash: str) -> ApiKey | None:
        return self._keys.get(key_hash)

    def ticket(self) -> int:
        """What ``keep`` needs of a key read that starts now."""
        return self._forgotten

    def keep(self, key_hash: str, key: ApiKey, ticket: int) -> None:
        """Keep a key read since ``ticket`` was taken, unless a key was forgotten meanwhile:
        the read may have seen that key before its change."""
        if ticket == self._forgotten:
            self._keys[key_hash] = key

    def forget(self, key_hash: str) -> None:
        """Refuse to answer for this key from now on (it was disabled or deleted)."""
        self._forgotten += 1
        self._keys.pop(key_hash, None)
