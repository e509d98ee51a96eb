"""The disk guard: while the disk that takes new jobs' outputs has less free space than
``min_free_disk_bytes``, submits are refused with 503 ``storage_full`` and a ``Retry-After``,
rather than accepted to fail while they write.

The disks watched, the one with the least free space counting: the local result storage's
folder (``file://``), the SQLite database's folder, and, in a process that runs workers, the
temporary folder where they write outputs before storing them. (With S3 and PostgreSQL an
API process without workers has no disk of its own to watch; the machines of ``genq worker``
are not seen from it, and a worker whose disk fills fails its job with ``storage_error``,
leaving no partial file.)

Free space is read with ``shutil.disk_usage`` at most once per ``READ_INTERVAL`` per process,
on a thread of its own: the submit that starts a reading waits at most ``READ_WAIT`` for it (a
network filesystem that hangs), then goes by the last one; while a reading is out, none is
started beside it and other submits go by the last one at once.

Low disk does not make the process not ready (``/readyz``): it still serves status reads,
downloads, cancels and deletes (deleting is how space comes back), and a load balancer that
took it out would refuse those too; readiness shows the free space in its storage check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genq import metrics
from genq.errors import StorageFull
from genq.settings import Settings
from genq.storage import FileStorage
from genq.storage.local import LocalStorage
from genq.store import engine_of

log = logging.getLogger("genq.disk")

#: How long a reading of the free space stands, in seconds.
READ_INTERVAL = 1.0
#: The longest a submit waits for a reading before it goes by the last one, in seconds.
READ_WAIT = 0.25
#: What a refusal's ``Retry-After`` says, in seconds: space comes back when an operator frees
#: it or the sweep deletes expired jobs, not in moments. It is past the longest pause genq's
#: client sleeps through by itself, so that a caller hears of the full disk at once.
RETRY_AFTER_SECONDS = 120

Usage = Callable[[Path], Any]


@dataclass(frozen=True)
class DiskSpace:
    """The free space of the fullest disk watched, and the least the guard keeps free."""

    free_bytes: int
    min_free_bytes: int

    @property
    def full(self) -> bool:
        return self.free_bytes < self.min_free_bytes


class DiskGuard:
    """Refuses new jobs while any of ``folders`` is on a disk with less than
    ``min_free_bytes`` free (0: never)."""

    def __init__(
        self,
        folders: Iterable[Path],
        min_free_bytes: int,
        *,
        interval: float = READ_INTERVAL,
        wait: float = READ_WAIT,
        usage: Usage = shutil.disk_usage,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folders: list[Path] = []
        for folder in folders:
            self.watch(folder)
        self.min_free_bytes = min_free_bytes
        self.interval = interval
        self.wait = wait
        self._usage = usage
        self._clock = clock
        self._free: int | None = None
        self._read_at: float | None = None
        self._reading: asyncio.Task[None] | None = None
        self._full = False
        self._unreadable: set[Path] = set()

    def watch(self, folder: Path) -> None:
        """Watch one more folder's disk too."""
        if folder not in self.folders:
            self.folders.append(folder)

    async def check(self) -> None:
        """Raise ``StorageFull`` (503 ``storage_full``, ``Retry-After``) while the disk is
        too full for new jobs."""
        if self.min_free_bytes <= 0:
            return
        space = await self.space()
        if space is None or not space.full:
            return
        metrics.STORAGE_FULL.inc()
        raise StorageFull(
            f"the server's disk is nearly full ({space.free_bytes} bytes free, under the "
            f"{space.min_free_bytes} it keeps free): no new jobs are taken until space is "
            f"freed; retry in {RETRY_AFTER_SECONDS} s",
            details={"free_bytes": space.free_bytes, "min_free_bytes": space.min_free_bytes},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def space(self) -> DiskSpace | None:
        """The free space as last read (read again if the reading is ``interval`` old, waiting
        ``wait`` at most for it); None: nothing watched, or no folder could be read."""
        if not self.folders:
            return None
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self.interval:
            await self._read_fresh()
        if self._free is None:
            return None
        return DiskSpace(self._free, self.min_free_bytes)

    async def _read_fresh(self) -> None:
        loop = asyncio.get_running_loop()
        reading = self._reading
        if reading is not None and (reading.done() or reading.get_loop() is not loop):
            reading = None
        if reading is not None:
            return  # one is out already, maybe on a filesystem that hangs: go by the last
        reading = self._reading = loop.create_task(self._read())
        # A reading that takes longer goes on by itself; this submit goes by the last one.
        await asyncio.wait([reading], timeout=self.wait)

    async def _read(self) -> None:
        try:
            free = await self._read_in_thread()
        finally:
            self._reading = None
        self._free, self._read_at = free, self._clock()
        full = free is not None and self.min_free_bytes > 0 and free < self.min_free_bytes
        if full != self._full:
            self._full = full
            if full:
                log.warning(
                    "disk nearly full: %s bytes free, under min_free_disk_bytes (%s): "
                    "new jobs are refused",
                    free,
                    self.min_free_bytes,
                )
            else:
                log.warning("disk space is back (%s bytes free): new jobs are taken", free)

    def _read_in_thread(self) -> asyncio.Future[int | None]:
        """``free_bytes`` on a daemon thread of its own: a filesystem that never answers holds
        that thread alone, and neither a pool the server needs nor its exit."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int | None] = loop.create_future()

        def settle(free: int | None, error: BaseException | None) -> None:
            if answer.done():
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(free)

        def read() -> None:
            free, error = None, None
            try:
                free = self.free_bytes()
            except Exception as exc:
                error = exc
            # The loop may be gone by now (a reading that outlived its server).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, free, error)

        threading.Thread(target=read, name="genq-disk-space", daemon=True).start()
        return answer

    def free_bytes(self) -> int | None:
        """The least free space of the watched folders' disks, read now (blocking); None
        when none of them can be read."""
        found = None
        for folder in self.folders:
            try:
                free = int(self._usage(folder).free)
            except OSError as exc:
                # Said once, not at every reading, until the folder can be read again.
                if folder not in self._unreadable:
                    self._unreadable.add(folder)
                    log.warning("cannot read the free space of %s: %s", folder, exc)
                continue
            self._unreadable.discard(folder)
            found = free if found is None else min(found, free)
        return found


def watched_folders(settings: Settings, storage: FileStorage) -> list[Path]:
    """The folders whose disks take what a new job writes in an API process: the result
    storage's, if local, and the SQLite database's."""
    folders = []
    if isinstance(storage, LocalStorage):
        folders.append(storage.root)
    if engine_of(settings.db_url) == "sqlite":
        database = settings.db_url.removeprefix("sqlite:///")
        if database and database != ":memory:":
            folders.append(Path(database).parent)
    return folders


def workers_folder() -> Path:
    """Where worker processes on this machine write outputs before storing them."""
    return Path(tempfile.gettempdir())


def disk_guard(settings: Settings, storage: FileStorage) -> DiskGuard:
    """The guard of an API process (``DiskGuard.watch`` adds its workers' folder)."""
    return DiskGuard(watched_folders(settings, storage), settings.min_free_disk_bytes)
