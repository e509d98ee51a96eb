"""What every part of the job service shares: the store, storage, registry and notifier it
is made of, the calls that run on the store, the caller's key, and reading one job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cachetools import LRUCache, TTLCache

from genq.errors import Missing, StoreUnavailable, Unauthorized
from genq.jobs import ApiKey, JobRecord
from genq.keys import hash_key
from genq.models.aliases import Alias
from genq.models.registry import ModelRegistry, RegisteredModel
from genq.notify import Notifier
from genq.service.disk_guard import disk_guard
from genq.service.keys import KeyCache
from genq.service.rate_limits import Allowance, RateLimiter
from genq.settings import Settings
from genq.storage import FileStorage
from genq.store import JobStore
from genq.store.estimates import Level

log = logging.getLogger("genq.service")

T = TypeVar("T")
#: A key's ``last_used_at`` is this many seconds late at most (and written that rarely).
KEY_USE_PRECISION = 60.0
#: Most text kept for repeated reads, in characters.
KEPT_TEXT_CHARS = 16 << 20


def known_id(job_id: str) -> str:
    """``job_id``, or 404 for one that no job can have: ids never hold a NUL, and PostgreSQL
    could not even look one up."""
    if "\x00" in job_id:
        raise Missing(f"no job {job_id!r}", code="job_not_found")
    return job_id


#: How long a process trusts what it read of whether an account has webhook calls.
HAS_CALLS_SECONDS = 2.0
#: How long a model's recent run time is trusted (estimates).
MODEL_FIGURES_SECONDS = 5.0
#: How long a model's queue at a priority is trusted (estimates).
QUEUE_LEVEL_SECONDS = 1.0


class ServiceCore:
    """What each part of the service works with: settings, store, storage, registry, notifier."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        storage: FileStorage,
        registry: ModelRegistry,
        notifier: Notifier,
    ) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.registry = registry
        self.notifier = notifier
        self._keys = KeyCache()
        self._rates = RateLimiter(
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
            processes=settings.rate_limit_processes,
        )
        #: Texts that no longer change (a stored file's, a finished job's streamed text), kept
        #: for the clients that poll them.
        self._texts: LRUCache[tuple[str | int, ...], str] = LRUCache(KEPT_TEXT_CHARS, getsizeof=len)
        self._served: dict[str, int] = {}
        self._served_at = -1.0
        #: Whether any webhook call was made for an account's jobs (whether a job's status
        #: read looks for calls when it has no webhook of its own), trusted for a moment.
        self._accounts_with_calls: TTLCache[str, bool] = TTLCache(
            maxsize=100_000, ttl=HAS_CALLS_SECONDS
        )
        #: Each model's queue at a priority, for estimates: the same for all its jobs.
        self._queue_levels: TTLCache[tuple[str, int], Level] = TTLCache(
            maxsize=10_000, ttl=QUEUE_LEVEL_SECONDS
        )
        #: Each model's recent run time, for estimates (``estimates``).
        self._run_seconds: TTLCache[str, float | None] = TTLCache(
            maxsize=10_000, ttl=MODEL_FIGURES_SECONDS
        )
        #: Refuses new jobs while the disk their outputs go to is nearly full.
        self.disk = disk_guard(settings, storage)

    async def start(self) -> None:
        """Start hearing of other processes' changes (the notifier)."""
        await self.notifier.start()

    async def close(self) -> None:
        """Stop hearing of changes and release the store's connections."""
        try:
            await self.notifier.close()
        finally:
            try:
                await self.store.close_reads()
            finally:
                self.store.close()

    # -- what the surfaces may read -------------------------------------------------------
    async def served_models(self) -> dict[str, int]:
        """How many live workers serve each model they serve (re-read at most once a
        second)."""
        now = time.monotonic()
        if now - self._served_at > 1.0:
            # A worker refreshes its entry every third of a lease.
            since = time.time() - self.settings.lease_seconds
            self._served = await self._db(self.store.workers_per_model, since)
            self._served_at = now
        return self._served

    async def model_workers(self, model: str) -> tuple[int, int]:
        """The live workers that serve ``model``, and how many of them run a job now (of any
        model)."""
        since = time.time() - self.settings.lease_seconds
        return await self.store.read_model_workers(model, since)

    @property
    def retention_seconds(self) -> float:
        """How long a job lives when its surface sets no retention of its own."""
        return self.settings.retention_seconds

    @property
    def max_json_depth(self) -> int:
        """How deeply a request body's JSON may nest."""
        return self.settings.max_json_depth

    @property
    def public_url(self) -> str | None:
        """The address links point at, when set; else each request's own."""
        return self.settings.public_url

    def resolve(self, name: str) -> tuple[RegisteredModel, Alias | None]:
        """The model ``name`` names, and the alias it went through (None: its own name)."""
        return self.registry.resolve(name)

    def model(self, name: str) -> RegisteredModel:
        """The model called ``name``, or the one the alias ``name`` names (404 otherwise)."""
        return self.registry.get(name)

    def models(self) -> list[RegisteredModel]:
        """Every registered model."""
        return list(self.registry)

    def aliases_of(self, name: str) -> list[str]:
        """The aliases that name the model ``name``."""
        return self.registry.aliases_of(name)

    def _keep_text(self, key: tuple[str | int, ...], text: str) -> None:
        if len(text) <= KEPT_TEXT_CHARS:
            self._texts[key] = text

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # SQLite calls take microseconds and are made inline; a store that waits on the
        # network (PostgreSQL) is run in a thread so that it never stalls the event loop.
        if self.store.blocking:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    # -- auth ----------------------------------------------------------------------------
    async def authenticate(self, raw_key: str | None) -> ApiKey:
        if not raw_key:
            raise Unauthorized("missing API key: send Authorization: Bearer KEY or x-api-key")
        digest = hash_key(raw_key)
        key = self._keys.get(digest)
        if key is not None:
            return key
        ticket = self._keys.ticket()
        key = await self.store.read_key(digest)
        if key is None:
            raise Unauthorized("unknown API key")
        if key.disabled:
            raise Unauthorized("this API key is disabled", code="key_disabled")
        self._keys.keep(digest, key, ticket)
        await self._note_use(key)
        return key

    def admit(self, key: ApiKey) -> Allowance | None:
        """Count a request of ``key`` against its rate limit: what it has left (None: it has
        no limit), or 429 ``rate_limited`` when it has nothing left."""
        return self._rates.take(key)

    async def _note_use(self, key: ApiKey) -> None:
        """Record when the key was used, to the minute: on a read of its row (at most once a
        second), and then only when the row says it is a minute old, never on every request."""
        now = time.time()
        last = key.last_used_at
        if last is not None and now - last < KEY_USE_PRECISION:
            return
        try:
            await self._db(self.store.touch_key, key.id, now, KEY_USE_PRECISION)
        except StoreUnavailable:
            # The request goes on: the time is recorded on a later one.
            log.warning("could not record the use of key %s", key.id)

    async def get(self, account_id: str, job_id: str) -> JobRecord:
        job = await self.store.read_job(account_id, known_id(job_id), time.time())
        if job is None:
            raise Missing(f"no job {job_id!r}", code="job_not_found")
        return job
