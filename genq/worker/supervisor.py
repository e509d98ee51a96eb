"""Runs worker processes: starts them, wakes idle ones, relays their news, enforces cancel
grace periods and timeouts, and replaces any that die (taking back the jobs they held)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from genq import metrics
from genq.notify import Notifier, Topic
from genq.settings import Settings
from genq.store import JobStore
from genq.worker.protocol import (
    Busy,
    Cancel,
    Changed,
    Done,
    Idle,
    Inbox,
    Stop,
    ToSupervisor,
    ToWorker,
    Wake,
)
from genq.worker.runner import worker_main

log = logging.getLogger("genq.supervisor")

MAX_RESTART_DELAY = 30.0


@dataclass(eq=False)
class WorkerHandle:
    worker_id: str
    process: BaseProcess
    conn: Connection
    #: Set by its first message: a worker that dies before it is ready is crash-looping.
    ready: bool = False
    idle: bool = False
    #: The jobs it runs now (several when they share one model call).
    job_ids: set[str] = field(default_factory=set)
    inbox: Inbox = field(default_factory=Inbox)


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        notifier: Notifier,
        count: int,
        *,
        models: list[str] | None = None,
        burst: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.notifier = notifier
        self.count = count
        #: The models this machine serves; None: every model in the registry.
        self.models = models
        #: Workers exit once the queue is empty, and are not replaced.
        self.burst = burst
        self.workers: list[WorkerHandle] = []
        self._pending_wakes = 0
        self._restart_delay = 0.0
        #: The timer of each job in hand that has a timeout (``_watch_timeout``).
        self._timeouts: dict[str, asyncio.TimerHandle] = {}
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mp = multiprocessing.get_context("spawn")
        self._settings_data = settings.model_dump(mode="json")
        # Each worker's share of the CPU cores for torch and other OpenMP users: by default
        # every process would start a thread per core, and the workers would fight over them.
        self._threads = max(1, (os.cpu_count() or 1) // max(1, count))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._all_exited = asyncio.Event()
        self.notifier.add_listener(Topic.QUEUED, self._on_queued)
        self.notifier.add_listener(Topic.CANCEL, self._on_cancel)
        for _ in range(self.count):
            self._spawn()

    # -- processes -----------------------------------------------------------------------
    def _spawn(self) -> None:
        if self._stopping:
            return
        assert self._loop is not None
        worker_id = f"w-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        parent, child = self._mp.Pipe()
        process = self._mp.Process(
            target=worker_main,
            args=(self._settings_data, worker_id, child, self.models, self.burst, self._threads),
            name=f"genq-worker-{worker_id}",
        )
        process.start()
        child.close()
        handle = WorkerHandle(worker_id, process, parent)
        self.workers.append(handle)
        self._loop.add_reader(parent.fileno(), self._on_readable, handle)
        self._loop.add_reader(process.sentinel, self._on_exit, handle)
        log.info("started worker %s (pid %s)", worker_id, process.pid)

    def _on_exit(self, handle: WorkerHandle) -> None:
        assert self._loop is not None
        self._loop.remove_reader(handle.process.sentinel)
        self._drain(handle)
        self._loop.remove_reader(handle.conn.fileno())
        handle.conn.close()
        handle.process.join()
        self.workers.remove(handle)
        for job_id in handle.job_ids:
            self._forget_timeout(job_id)
        if not self.workers:
            self._all_exited.set()
        # The store announces the jobs it takes back, and the requeued ones wake a worker.
        released = self.store.release_worker(
            handle.worker_id, time.time(), self.settings.max_attempts
        )
        if self._stopping or (self.burst and handle.process.exitcode == 0):
            return
        log.warning(
            "worker %s exited with code %s; %d job(s) requeued, %d ended",
            handle.worker_id,
            handle.process.exitcode,
            len(released.requeued),
            len(released.failed),
        )
        if handle.ready or handle.process.exitcode == -signal.SIGKILL:
            # Killed from outside (by an operator, or by us for ignoring a cancel) is no
            # crash loop: replace it at once.
            self._restart_delay = 0.0
        else:
            self._restart_delay = min(max(2 * self._restart_delay, 0.5), MAX_RESTART_DELAY)
        self._loop.call_later(self._restart_delay, self._spawn)

    # -- messages ------------------------------------------------------------------------
    def _on_readable(self, handle: WorkerHandle) -> bool:
        """Read what the worker's pipe holds (it is readable); False at its end."""
        fd = handle.conn.fileno()
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(fd)
            return False
        for message in handle.inbox.feed(data):
            try:
                self._on_message(handle, message)
            except Exception:  # the messages after it are still heard
                log.exception("worker %s: message %r failed", handle.worker_id, message)
        return True

    def _drain(self, handle: WorkerHandle) -> None:
        """Read every message the worker has sent so far."""
        while handle.conn.poll() and self._on_readable(handle):
            pass

    def _on_message(self, handle: WorkerHandle, message: ToSupervisor) -> None:
        handle.ready = True
        match message:
            case Idle(figures):
                metrics.add(figures)
                handle.idle = True
                handle.job_ids.clear()
                if self._pending_wakes:
                    self._pending_wakes = 0
                    self._send(handle, Wake())
            case Busy(job_id, timeout_at):
                handle.idle = False
                handle.job_ids.add(job_id)
                self.notifier.publish(Topic.JOB, job_id)
                if timeout_at is not None:
                    self._watch_timeout(job_id, timeout_at)
            case Changed(job_id):
                self.notifier.publish(Topic.JOB, job_id)
            case Done(job_id, figures):
                metrics.add(figures)
                handle.job_ids.discard(job_id)
                self._forget_timeout(job_id)
                self.notifier.publish(Topic.JOB, job_id)

    def _send(self, handle: WorkerHandle, message: ToWorker) -> None:
        if isinstance(message, Wake):
            handle.idle = False
        with contextlib.suppress(OSError):
            handle.conn.send(message)

    def _on_queued(self, model: str) -> None:
        if model and self.models is not None and model not in self.models:
            return
        for handle in self.workers:
            if handle.idle:
                self._send(handle, Wake())
                return
        # Every worker is busy: the next one to say it is idle is woken at once.
        self._pending_wakes += 1

    def _on_cancel(self, job_id: str) -> None:
        assert self._loop is not None
        # Sent to every worker: the one that just claimed the job may not have said so yet.
        for handle in self.workers:
            self._send(handle, Cancel(job_id))
        self._loop.call_later(self.settings.cancel_grace_seconds, self._enforce_cancel, job_id)

    def _enforce_cancel(self, job_id: str) -> None:
        for handle in list(self.workers):
            # Read what the worker said last, so that a job it already left is not killed in
            # its place.
            self._drain(handle)
            if job_id in handle.job_ids and handle.process.is_alive():
                log.warning(
                    "worker %s did not stop job %s within %.1f s: killing it",
                    handle.worker_id,
                    job_id,
                    self.settings.cancel_grace_seconds,
                )
                # The exit handler takes the job back; with its cancel flag set, it ends
                # canceled.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(handle.process.pid or 0, signal.SIGKILL)

    # -- timeouts ------------------------------------------------------------------------
    def _watch_timeout(self, job_id: str, timeout_at: float) -> None:
        """Kill the worker that still holds ``job_id`` a cancel grace period after its
        timeout ends (``time.time()``). The worker stops the job itself at its first step
        boundary past the timeout; this is for a model that does not look."""
        assert self._loop is not None
        delay = max(0.0, timeout_at - time.time()) + self.settings.cancel_grace_seconds
        self._forget_timeout(job_id)
        self._timeouts[job_id] = self._loop.call_later(delay, self._enforce_timeout, job_id)

    def _forget_timeout(self, job_id: str) -> None:
        """Drop the job's timer: it is no longer in hand (a timer per job would otherwise
        stay in the loop for as long as the timeout, however soon the job ends)."""
        timer = self._timeouts.pop(job_id, None)
        if timer is not None:
            timer.cancel()

    def _enforce_timeout(self, job_id: str) -> None:
        self._timeouts.pop(job_id, None)
        for handle in list(self.workers):
            self._drain(handle)
            if job_id not in handle.job_ids or not handle.process.is_alive():
                continue
            # Ended in the store before the kill: the exit handler would put it back in the
            # queue. None: it ended meanwhile, or runs again, on a clock of its own.
            try:
                job = self.store.time_out(job_id, time.time())
            except Exception as exc:
                log.warning("could not end job %s at its timeout (%s): trying again", job_id, exc)
                assert self._loop is not None
                self._timeouts[job_id] = self._loop.call_later(1.0, self._enforce_timeout, job_id)
                return
            if job is None:
                return
            log.warning(
                "worker %s did not stop job %s within %.1f s of its timeout: killing it",
                handle.worker_id,
                job_id,
                self.settings.cancel_grace_seconds,
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(handle.process.pid or 0, signal.SIGKILL)

    # -- shutdown ------------------------------------------------------------------------
    async def wait_exited(self) -> None:
        """Until every worker has exited (in burst mode, once the queue is empty)."""
        await self._all_exited.wait()

    async def stop(self, grace: float) -> None:
        """Ask workers to finish their current job and exit; kill those still busy after
        ``grace`` seconds (their jobs go back to the queue)."""
        self._stopping = True
        for handle in list(self.workers):
            self._send(handle, Stop())
        if not self.workers:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_exited.wait(), grace)
        for handle in list(self.workers):
            if handle.process.is_alive():
                handle.process.kill()
        await self._all_exited.wait()
