"""Readiness: whether this API process can do its work now, for load balancers' probes
(``/readyz``) and ``genq status``.

Three checks: the store answers a query, the result storage takes a small write (and its
removal), and, in a process that runs workers, at least one of them is alive. Each is bounded
by ``CHECK_TIMEOUT``, so a database that does not answer makes the probe fail quickly rather
than hang; a check still stuck from an earlier probe is not started again beside itself. A
result is reused for ``CACHE_SECONDS``, so probes every second (from several balancers) cost
about one round of checks a second.

The storage check also shows the free space of the disk new jobs' outputs go to
(``disk_guard``). A disk too full for new jobs does not make the process not ready: it still
serves reads, downloads, cancels and deletes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genq.service.disk_guard import DiskGuard
from genq.storage import FileStorage
from genq.store import JobStore

log = logging.getLogger("genq.readiness")

#: Longest a check may take before it counts as failed.
CHECK_TIMEOUT = 2.0
#: How long a result answers probes before the checks run again.
CACHE_SECONDS = 1.0
#: The storage keys readiness writes under: no job's id (``check_job_id``) starts so.
PROBE_PREFIX = "_genq-readiness"


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``ok``, how long it took, and what failed (or what it found)."""

    ok: bool
    seconds: float
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: What went wrong in full, for the log only: the answer goes to callers without a key.
    cause: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "seconds": round(self.seconds, 4)}
        if self.error is not None:
            body["error"] = self.error
        return {**body, **self.details}


@dataclass(frozen=True)
class Report:
    """Every check's outcome, and when they ran (``time.time()``)."""

    checks: dict[str, Check]
    checked_at: float

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "checked_at": self.checked_at,
            "checks": {name: check.to_dict() for name, check in self.checks.items()},
        }


@dataclass(frozen=True)
class Workers:
    """What the supervisor knows of its worker processes."""

    alive: int
    ready: int
    busy: int


class Readiness:
    """The checks of one API process, over its ``store`` and ``storage``, and its workers as
    ``workers()`` reports them (None: this process runs none, nothing to check)."""

    def __init__(
        self,
        store: JobStore,
        storage: FileStorage,
        workers: Callable[[], Workers] | None = None,
        *,
        disk: DiskGuard | None = None,
        timeout: float = CHECK_TIMEOUT,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.store = store
        self.storage = storage
        self.workers = workers
        self.disk = disk
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        # Threads of their own: a check stuck on a dead database holds one of these, never
        # one the API's requests need.
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="genq-readiness")
        self._running: dict[str, Future[None]] = {}
        self._last: Report | None = None
        self._last_at = 0.0
        self._lock = asyncio.Lock()

    async def report(self) -> Report:
        """The checks' outcome, run now unless a result of the last ``cache_seconds`` stands."""
        async with self._lock:
            if self._last is not None and time.monotonic() - self._last_at < self.cache_seconds:
                return self._last
            store, storage = await asyncio.gather(
                self._bounded("store", self.store.ping),
                self._bounded("storage", self._write_storage),
            )
            checks = {"store": store, "storage": await self._with_disk(storage)}
            if self.workers is not None:
                checks["workers"] = self._check_workers(self.workers)
            report = Report(checks, time.time())
            if self._last is None or report.ready != self._last.ready:
                failed = [f"{n}: {c.cause or c.error}" for n, c in checks.items() if not c.ok]
                if failed:
                    log.warning("not ready: %s", "; ".join(failed))
                elif self._last is not None:
                    log.warning("ready again")
            self._last, self._last_at = report, time.monotonic()
            return report

    async def _bounded(self, name: str, check: Callable[[], None]) -> Check:
        started = time.perf_counter()
        running = self._running.get(name)
        if running is not None and not running.done():
            return Check(False, 0.0, f"an earlier check has not answered in {self._age(name)} s")
        future = self._threads.submit(check)
        future.started_at = time.monotonic()  # type: ignore[attr-defined]
        self._running[name] = future
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            return Check(False, time.perf_counter() - started, f"no answer in {self.timeout:g} s")
        except Exception as exc:
            elapsed = time.perf_counter() - started
            return Check(False, elapsed, type(exc).__name__, cause=failure(exc))
        return Check(True, time.perf_counter() - started)

    def _age(self, name: str) -> str:
        started = getattr(self._running[name], "started_at", time.monotonic())
        return f"{time.monotonic() - started:.1f}"

    def _write_storage(self) -> None:
        key = f"{PROBE_PREFIX}/{os.getpid()}/{uuid.uuid4().hex}"
        with tempfile.TemporaryDirectory(prefix="genq-readiness-") as folder:
            probe = Path(folder) / "probe"
            probe.write_bytes(b"ready\n")
            self.storage.put(key, probe, "text/plain")
        self.storage.delete_keys([key])

    async def _with_disk(self, storage: Check) -> Check:
        """The storage check with the free space of the disk new jobs' outputs go to."""
        space = None if self.disk is None else await self.disk.space()
        if space is None:
            return storage
        details = {
            "disk_free_bytes": space.free_bytes,
            "disk_min_free_bytes": space.min_free_bytes,
            "disk_full": space.full,
        }
        return dataclasses.replace(storage, details={**storage.details, **details})

    @staticmethod
    def _check_workers(workers: Callable[[], Workers]) -> Check:
        started = time.perf_counter()
        found = workers()
        details = {"alive": found.alive, "ready": found.ready, "busy": found.busy}
        error = None if found.alive else "no worker process is alive"
        return Check(found.alive > 0, time.perf_counter() - started, error, details)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def failure(exc: BaseException) -> str:
    """What went wrong, in a line: the exception's kind, and its message's first line."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
