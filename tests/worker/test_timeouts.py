"""The supervisor's watch over job timeouts, in process: a timer per job in hand that has a
timeout, dropped when the job leaves the worker, and a kill only for a job the store ends."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path
from typing import cast

from genq.jobs import JobRecord
from genq.notify import Notifier
from genq.settings import Settings
from genq.store import JobStore
from genq.worker.protocol import Busy, Done
from genq.worker.supervisor import Supervisor, WorkerHandle
from tests.worker.test_protocol import Published


class Alive:
    """A worker process that is alive, with a pid no process can have (should the kill be
    sent after all, it finds nobody)."""

    pid = 2**31 - 1

    def is_alive(self) -> bool:
        return True


class TimingOut:
    """A store that records which jobs it was asked to end at their timeout."""

    def __init__(self, ends: bool) -> None:
        self.ends = ends
        self.asked: list[str] = []

    def time_out(self, job_id: str, now: float) -> JobRecord | None:
        self.asked.append(job_id)
        return cast(JobRecord, object()) if self.ends else None


def supervisor_with_worker(tmp_path: Path, store: object) -> tuple[Supervisor, WorkerHandle]:
    supervisor = Supervisor(
        Settings(data_dir=tmp_path, cancel_grace_seconds=0.5),
        cast(JobStore, store),
        cast(Notifier, Published()),
        1,
    )
    supervisor_end, _ = multiprocessing.Pipe()
    handle = WorkerHandle("w-test", cast(object, Alive()), supervisor_end)  # type: ignore[arg-type]
    supervisor.workers.append(handle)
    return supervisor, handle


def test_a_jobs_timer_is_dropped_when_it_leaves_the_worker(tmp_path: Path) -> None:
    """Busy with a timeout sets one timer for the job (none without one); its Done cancels
    it, so that jobs that end early leave no timers behind."""

    async def run() -> None:
        supervisor, handle = supervisor_with_worker(tmp_path, TimingOut(ends=True))
        supervisor._loop = asyncio.get_running_loop()
        supervisor._on_message(handle, Busy("j1", time.time() + 3600))
        supervisor._on_message(handle, Busy("j2"))
        timer = supervisor._timeouts["j1"]
        assert set(supervisor._timeouts) == {"j1"}
        supervisor._on_message(handle, Done("j1"))
        assert timer.cancelled()
        assert supervisor._timeouts == {}

    asyncio.run(run())


def test_only_a_job_the_store_ends_at_its_timeout_gets_its_worker_killed(
    tmp_path: Path, monkeypatch
) -> None:
    """A grace period after the timeout, the supervisor asks the store to end the job the
    worker still holds; the worker is killed only when the store did (a job that ended
    meanwhile, or runs again on a clock of its own, is left alone)."""
    killed: list[int] = []
    monkeypatch.setattr("genq.worker.supervisor.os.kill", lambda pid, sig: killed.append(pid))

    async def run(ends: bool) -> TimingOut:
        store = TimingOut(ends)
        supervisor, handle = supervisor_with_worker(tmp_path, store)
        supervisor._loop = asyncio.get_running_loop()
        supervisor._on_message(handle, Busy("j1", time.time() + 0.1))
        await asyncio.sleep(0.8)
        assert supervisor._timeouts == {}
        return store

    assert asyncio.run(run(ends=False)).asked == ["j1"]
    assert killed == []
    assert asyncio.run(run(ends=True)).asked == ["j1"]
    assert killed == [Alive.pid]
