"""The readiness checks, over stand-in stores and storages: bounded, cached, and saying what
failed without the failure's details."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, cast

from genq.errors import StoreUnavailable
from genq.service.readiness import PROBE_PREFIX, Readiness, Workers
from genq.storage import FileStorage
from genq.storage.local import LocalStorage
from genq.store import JobStore


class Store:
    """A store whose ``ping`` does what the test says."""

    def __init__(self) -> None:
        self.pings = 0
        self.error: Exception | None = None
        self.hang = threading.Event()
        self.hanging = False

    def ping(self) -> None:
        self.pings += 1
        if self.hanging:
            self.hang.wait(10)
        if self.error is not None:
            raise self.error


def readiness(store: Store, storage: FileStorage, **options: Any) -> Readiness:
    return Readiness(cast(JobStore, store), storage, **options)


def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", b"secret")


def test_ready_when_every_check_passes(tmp_path: Path) -> None:
    """Store and storage answer, a worker is alive: ready, and the probe file is gone."""
    files = storage(tmp_path)
    checks = readiness(Store(), files, workers=lambda: Workers(alive=2, ready=1, busy=1))
    report = asyncio.run(checks.report())
    assert report.ready
    body = report.to_dict()
    assert body["status"] == "ready"
    assert body["checks"]["workers"] == {
        "ok": True,
        "seconds": body["checks"]["workers"]["seconds"],
        "alive": 2,
        "ready": 1,
        "busy": 1,
    }
    assert not list((tmp_path / "files" / PROBE_PREFIX).rglob("*"))


def test_a_failure_names_its_check_not_its_details(tmp_path: Path) -> None:
    """A store that raises fails the store check with the error's kind only; no live worker
    fails the workers check."""
    store = Store()
    store.error = StoreUnavailable("cannot connect to postgresql://me@db.internal/genq")
    checks = readiness(store, storage(tmp_path), workers=lambda: Workers(0, 0, 0))
    body = asyncio.run(checks.report()).to_dict()
    assert body["status"] == "not_ready"
    assert body["checks"]["store"]["error"] == "StoreUnavailable"
    assert "internal" not in str(body)
    assert body["checks"]["storage"]["ok"]
    assert body["checks"]["workers"]["error"] == "no worker process is alive"


def test_a_hanging_store_fails_within_the_timeout_and_is_not_asked_again(
    tmp_path: Path,
) -> None:
    """A ping that never answers fails after the timeout; the next round reports it still
    stuck instead of starting a second one beside it; once it answers, checks run again."""
    store = Store()
    store.hanging = True
    checks = readiness(store, storage(tmp_path), timeout=0.2, cache_seconds=0)

    async def rounds() -> None:
        started = time.monotonic()
        first = await checks.report()
        assert time.monotonic() - started < 1
        assert first.checks["store"].error == "no answer in 0.2 s"
        second = await checks.report()
        assert "has not answered" in (second.checks["store"].error or "")
        assert store.pings == 1
        store.hanging = False
        store.hang.set()
        await asyncio.sleep(0.05)
        assert (await checks.report()).ready
        assert store.pings == 2

    try:
        asyncio.run(rounds())
    finally:
        store.hang.set()
        checks.close()


def test_a_result_is_reused_within_the_cache_window(tmp_path: Path) -> None:
    """Probes within ``cache_seconds`` of a round share it: the store is asked once."""
    store = Store()
    checks = readiness(store, storage(tmp_path), cache_seconds=60)

    async def probes() -> None:
        reports = await asyncio.gather(*(checks.report() for _ in range(20)))
        assert all(report is reports[0] for report in reports)

    asyncio.run(probes())
    assert store.pings == 1
