"""A worker's claim loop: claim what is queued, run it, and between claims wait for the
supervisor's word (a wake, a cancel, a stop) or the next poll, whichever comes first."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TypeVar

from genq import metrics
from genq.deadlines import run_deadline
from genq.errors import StoreUnavailable
from genq.jobs import Claim
from genq.settings import Settings
from genq.store import JobStore, Scheduling
from genq.worker.context import InHand
from genq.worker.lifeline import supervisor_alive
from genq.worker.protocol import Busy, Cancel, Hub, Idle, Stop

log = logging.getLogger("genq.worker")

T = TypeVar("T")
#: What a claim charges its account before this worker has timed a job of the model.
DEFAULT_CHARGE = 1.0
#: How long after a retry falls due an idle worker claims it: the claim must see it due.
DUE_SLACK = 0.01


@dataclass(eq=False)
class ClaimLoop:
    settings: Settings
    store: JobStore
    worker_id: str
    models: list[str]
    hub: Hub
    in_hand: InHand
    #: Claim nothing more: told to stop, or the supervisor is gone.
    stopping: threading.Event = field(default_factory=threading.Event, init=False)
    _receive_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _claim_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    #: Its models that retry failed jobs (``genq.retries``): an idle worker wakes when one
    #: of their jobs falls due.
    retried: list[str] = field(default_factory=list, init=False)
    #: Seconds a job of each model held this worker, lately (``timed``).
    job_seconds: dict[str, float] = field(default_factory=dict, init=False)

    def run(self, run_claim: Callable[[Claim], int], *, burst: bool) -> int:
        """Claim jobs and run each with ``run_claim`` (it says how many jobs it ran, the
        claimed one and those it batched with it) until told to stop (or, in burst mode,
        until the queue is empty); returns how many ran."""
        done = 0
        while not self.stopping.is_set():
            try:
                claims = self.until_available(lambda: self.claim(self.models))
            except StoreUnavailable:
                break
            if not claims:
                due = self.retry_due()
                if (burst and due is None) or self.stopping.is_set():
                    break
                self.hub.send(Idle())
                self.receive(self.idle_wait(due))
                continue
            for claim in claims:
                started = time.monotonic()
                ran = run_claim(claim)
                done += ran
                self.timed(claim.job.model, (time.monotonic() - started) / max(1, ran))
        return done

    # -- fair shares ---------------------------------------------------------------------
    def timed(self, model: str, seconds: float) -> None:
        """A job of ``model`` held this worker ``seconds``: the estimate a claim charges its
        account (a moving average; corrected by the store when each job ends)."""
        before = self.job_seconds.get(model)
        self.job_seconds[model] = seconds if before is None else 0.7 * before + 0.3 * seconds

    def scheduling(self, models: list[str]) -> Scheduling:
        """How a claim of ``models`` picks (``genq.store.fair``)."""
        known = [self.job_seconds[m] for m in models if m in self.job_seconds]
        settings = self.settings
        return Scheduling(
            aging_seconds=settings.fair_share_aging_seconds,
            max_running_default=settings.max_running_per_account,
            charge=sum(known) / len(known) if known else DEFAULT_CHARGE,
            credit_seconds=settings.fair_share_credit_seconds,
        )

    # -- jobs waiting for an automatic retry ---------------------------------------------
    def retry_due(self) -> float | None:
        """When the first queued job of ``retried`` waiting for its retry falls due; None:
        none waits (or the database cannot say)."""
        if not self.retried:
            return None
        try:
            return self.store.next_run_after(self.retried, time.time())
        except StoreUnavailable:
            return None

    def idle_wait(self, due: float | None) -> float:
        """How long an idle worker waits for a wake before it claims again: the poll interval,
        or less, until ``due``. No one announces a retry falling due (on PostgreSQL, workers
        hear the requeue itself, too early to take the job)."""
        wait = self.settings.poll_interval_seconds
        if due is not None:
            wait = min(wait, max(0.0, due - time.time()) + DUE_SLACK)
        return wait

    # -- messages from the supervisor ----------------------------------------------------
    def receive(self, timeout: float) -> None:
        """Handle the supervisor's messages, waiting up to ``timeout`` s for the first one.

        The thread that runs jobs reads them itself, between jobs and whenever a model asks
        whether to stop: a listener thread would add a thread hand-off to every wake-up.
        """
        conn = self.hub.conn
        if conn is None:
            self.stopping.wait(timeout)
            return
        if not self._receive_lock.acquire(blocking=False):
            return  # another thread is reading the pipe
        try:
            self._receive(conn, timeout)
        finally:
            self._receive_lock.release()

    def _receive(self, conn: Connection, timeout: float) -> None:
        try:
            ready = self.hub.readable(timeout)
            while ready:
                match conn.recv():
                    case Cancel(job_id):
                        self.in_hand.stop(job_id)
                    case Stop():
                        self.stopping.set()
                # A Wake needs nothing more: the caller claims next.
                ready = self.hub.readable(0)
        except (EOFError, OSError):
            # The supervisor died: claim nothing more. The lifeline thread hands the jobs in
            # hand back and ends the process.
            self.stopping.set()

    # -- claims --------------------------------------------------------------------------
    def claim(
        self, models: list[str], *, limit: int = 1, batch_key: str | None = None
    ) -> list[Claim]:
        """Claim queued jobs, unless this worker is stopping or its supervisor is gone, and
        tell the supervisor of each (``Busy``).

        Without the check, a worker that has not yet noticed its supervisor's death would
        claim the job another orphan just handed back, spending an attempt of it for
        nothing; the worker's ``abandon`` waits for a claim under way (``held``), and hands
        back what it took."""
        with self._claim_lock:
            if self.hub.conn is not None and not supervisor_alive():
                self.stopping.set()
            if self.stopping.is_set():
                return []
            with self.hub.told_later():
                claims = self.store.claim(
                    self.worker_id,
                    models,
                    time.time(),
                    self.settings.lease_seconds,
                    limit=limit,
                    batch_key=batch_key,
                    scheduling=self.scheduling(models),
                )
        for claim in claims:
            self.hub.send(Busy(claim.job.id, run_deadline(claim.job)))
        return claims

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """No claim is under way while in this block."""
        with self._claim_lock:
            yield

    def until_available(self, call: Callable[[], T]) -> T:
        """Make a store call, waiting out a database outage (unless told to stop)."""
        delay = 0.1
        while True:
            try:
                return call()
            except StoreUnavailable as exc:
                self.hub.observe(metrics.store_error("claim"))
                if self.stopping.is_set():
                    raise
                log.warning("%s; retrying in %.1f s", exc.message, delay)
                self.receive(delay)
                delay = min(delay * 2, 5.0)
