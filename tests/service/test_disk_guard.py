"""The disk guard over a stand-in for ``shutil.disk_usage``: when it refuses, how often it
reads, and how long a submit waits on a filesystem that does not answer."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from genq import metrics
from genq.errors import StorageFull
from genq.service.disk_guard import RETRY_AFTER_SECONDS, DiskGuard, DiskSpace, watched_folders
from genq.settings import Settings
from genq.storage.local import LocalStorage


class Disks:
    """Free bytes per folder, as the test sets them; counts the readings."""

    def __init__(self, free: int) -> None:
        self.free: dict[Path, int] = {}
        self.default = free
        self.reads = 0
        self.missing: set[Path] = set()
        self.hang = threading.Event()
        self.hanging = False

    def __call__(self, folder: Path) -> Any:
        self.reads += 1
        if self.hanging:
            self.hang.wait(10)
        if folder in self.missing:
            raise FileNotFoundError(folder)
        return SimpleNamespace(free=self.free.get(folder, self.default))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(disks: Disks, minimum: int, *folders: str, **options: Any) -> DiskGuard:
    paths = [Path(folder) for folder in folders or ("/data",)]
    return DiskGuard(paths, minimum, usage=disks, **options)


def test_refuses_under_the_threshold_with_retry_after() -> None:
    """Less free than the threshold: 503 storage_full with Retry-After and the numbers, and
    the refusal is counted; at or over it, nothing is refused."""
    disks = Disks(free=500)
    refused = metrics.STORAGE_FULL._value.get()
    with pytest.raises(StorageFull) as caught:
        asyncio.run(guard(disks, 501).check())
    error = caught.value
    assert (error.status_code, error.code) == (503, "storage_full")
    assert error.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    assert error.details == {"free_bytes": 500, "min_free_bytes": 501}
    assert metrics.STORAGE_FULL._value.get() == refused + 1
    asyncio.run(guard(disks, 500).check())


def test_zero_turns_it_off_without_reading() -> None:
    """``min_free_disk_bytes = 0``: never refused, the disk never read for it."""
    disks = Disks(free=0)
    asyncio.run(guard(disks, 0).check())
    assert disks.reads == 0


def test_a_reading_stands_for_the_interval() -> None:
    """Submits within a second share one reading; the next one after it reads again, and sees
    the space that came back."""
    disks, clock = Disks(free=10), Clock()
    watch = guard(disks, 100, clock=clock)

    async def go() -> None:
        for _ in range(50):
            with pytest.raises(StorageFull):
                await watch.check()
        assert disks.reads == 1
        clock.now += 0.99
        with pytest.raises(StorageFull):
            await watch.check()
        assert disks.reads == 1
        disks.default = 1000
        clock.now += 0.02
        await watch.check()
        assert disks.reads == 2

    asyncio.run(go())


def test_the_fullest_disk_counts_and_an_unreadable_one_is_skipped() -> None:
    """The least free space of the folders read is the one compared."""
    disks = Disks(free=1000)
    disks.free[Path("/tmp")] = 50
    disks.missing.add(Path("/gone"))
    watch = guard(disks, 100, "/data", "/gone", "/tmp")
    with pytest.raises(StorageFull):
        asyncio.run(watch.check())
    assert asyncio.run(watch.space()) == DiskSpace(50, 100)
    disks.missing = {Path("/data"), Path("/gone"), Path("/tmp")}
    watch = guard(disks, 100, "/data", "/gone", "/tmp")
    # Nothing can be read: nothing is refused for it.
    asyncio.run(watch.check())
    assert asyncio.run(watch.space()) is None


def test_a_hanging_filesystem_holds_a_submit_for_the_wait_at_most() -> None:
    """A reading that does not answer: the submit that started it waits ``wait`` at most, the
    next ones not at all, each going by the last reading; no second reading starts beside the
    one still out."""
    disks, clock = Disks(free=10), Clock()
    watch = guard(disks, 100, clock=clock, wait=0.2)

    async def go() -> None:
        with pytest.raises(StorageFull):
            await watch.check()
        disks.hanging = True
        clock.now += 5
        waits = []
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(StorageFull):  # the last reading still counts
                await watch.check()
            waits.append(time.monotonic() - started)
        assert 0.2 <= waits[0] < 1.0
        assert max(waits[1:]) < 0.05
        assert disks.reads == 2
        disks.hanging = False
        disks.default = 1000
        disks.hang.set()
        for _ in range(100):
            if disks.reads == 2 and watch._reading is None:
                break
            await asyncio.sleep(0.01)
        clock.now += 5
        await watch.check()

    asyncio.run(go())


def test_the_folders_watched(tmp_path: Path) -> None:
    """Local storage's folder and the SQLite database's; neither for S3 and PostgreSQL."""
    settings = Settings(data_dir=tmp_path)
    storage = LocalStorage(tmp_path / "files", b"secret")
    assert watched_folders(settings, storage) == [tmp_path / "files", tmp_path]
    remote = Settings(data_dir=tmp_path, db="postgresql://127.0.0.1/test")
    assert watched_folders(remote, SimpleNamespace(served_by_genq=False)) == []  # type: ignore[arg-type]
