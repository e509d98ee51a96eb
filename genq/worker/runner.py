"""A worker process: claims jobs, runs their models, records progress, outputs and the end.

The parts, each in its module: the claim loop and the supervisor's word (``claims``), which
jobs share a model call (``batching``), the lease renewals (``heartbeat``), what a model sees
of its job (``context``), recording ends (``finishing``) and storing outputs (``outputs``).
The supervisor pipe's messages are in ``protocol``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from genq import logs
from genq.errors import StoreUnavailable
from genq.jobs import Claim, Failure
from genq.models.base import InputError, RunContext, Stopped
from genq.models.registry import ModelRegistry, RegisteredModel
from genq.notify import Topic
from genq.settings import Settings
from genq.storage import FileStorage, open_storage
from genq.store import JobStore, open_store
from genq.worker.batching import Batching, is_out_of_memory
from genq.worker.claims import ClaimLoop
from genq.worker.context import InHand, JobContext
from genq.worker.finishing import Finisher
from genq.worker.heartbeat import Heartbeat
from genq.worker.lifeline import watch_supervisor
from genq.worker.loaded import GIB, LoadedModels, free_accelerator_cache
from genq.worker.outputs import is_disk_full, storage_failure
from genq.worker.protocol import Done, Hub

log = logging.getLogger("genq.worker")
#: Longest a worker whose supervisor died waits for outputs being stored before it leaves.
ABANDON_FINISH_SECONDS = 5.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        worker_id: str,
        *,
        conn: Connection | None = None,
        models: list[str] | None = None,
        store: JobStore | None = None,
        storage: FileStorage | None = None,
        registry: ModelRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.hub = Hub(conn)
        self.store = store or open_store(settings.db_url)
        self.storage = storage or open_storage(settings.storage_url, settings.signing_secret())
        self.registry = registry or ModelRegistry(settings.models, settings.aliases)
        wanted = models or self.registry.names()
        self.models = [name for name in wanted if not self.registry.get(name).missing]
        budget = settings.model_memory_gb
        self.loaded = LoadedModels(
            int(budget * GIB) if budget is not None else None, self.hub.observe
        )
        #: When the last model call ended (``time.monotonic``): the idle gap's start.
        self._last_call_end: float | None = None
        self.batching = Batching(self.registry)
        self.in_hand = InHand()
        self.claims = ClaimLoop(
            settings, self.store, worker_id, self.models, self.hub, self.in_hand
        )
        self.claims.retried = [m for m in self.models if self.registry.get(m).retry.max_retries]
        self.heartbeat = Heartbeat(self.store, self.in_hand, self._register, settings.lease_seconds)
        self.finisher = Finisher(
            settings, self.store, self.storage, self.registry, self.hub, self._release
        )

    def forward(self, topic: Topic, payload: str) -> None:
        """The hook of a store of this process's own: what it commits reaches the API's
        waiters through the supervisor (with PostgreSQL the store announces to every process
        itself)."""
        if topic is Topic.JOB:
            self.hub.changed(payload)

    def _register(self) -> None:
        self.store.register_worker(
            self.worker_id, self.models, socket.gethostname(), os.getpid(), time.time()
        )

    def run(self, *, burst: bool = False) -> int:
        """Run jobs until told to stop (or, in burst mode, until the queue is empty)."""
        self.claims.until_available(self._register)
        self.heartbeat.start()
        try:
            return self.claims.run(self._run_claim, burst=burst)
        finally:
            self.finisher.drain()
            self.heartbeat.stop()
            self.loaded.close()
            with contextlib.suppress(StoreUnavailable):
                self.store.unregister_worker(self.worker_id)

    def _run_claim(self, claim: Claim) -> int:
        batch = self.batching.fill(claim, self.claims)
        started = time.monotonic()
        # Told before the call, so that its jobs' ``Done`` carries it.
        self.hub.observe(("batch", (claim.job.model,), len(batch)))
        if self._last_call_end is not None:
            self.hub.observe(("idle_gap", (), started - self._last_call_end))
        try:
            self.run_batch(batch)
        finally:
            self._last_call_end = time.monotonic()
            self.hub.observe(("busy", (), self._last_call_end - started))
        return len(batch)

    def batch_limit(self, registered: RegisteredModel) -> int:
        return self.batching.limit(registered)

    def run_job(self, claim: Claim) -> None:
        self.run_batch([claim])
        self.finisher.drain()

    def run_batch(self, claims: list[Claim]) -> None:
        """Run jobs of one model in one model call (a single job: a plain ``predict``). The
        jobs that succeed with outputs are finished on the finisher thread, after the
        previous call's."""
        ctxs = [JobContext(self, claim, batched=len(claims) > 1) for claim in claims]
        for ctx in ctxs:
            if ctx.claim.job.cancel_requested:
                ctx.stop.set()
        self.in_hand.add(ctxs)
        succeeded: list[JobContext] = []
        first = claims[0].job
        # What the log lines of this model call carry (the finisher thread's carry none).
        tokens = (
            (logs.job_id, logs.job_id.set(",".join(claim.job.id for claim in claims))),
            (logs.model, logs.model.set(first.model)),
            (logs.account, logs.account.set(first.account_id if len(claims) == 1 else None)),
        )
        try:
            registered, succeeded, elapsed = self._execute(ctxs)
        finally:
            self._release([ctx for ctx in ctxs if ctx not in succeeded])
            for var, token in tokens:
                var.reset(token)
        if succeeded:
            self.finisher.succeed(registered, succeeded, elapsed, len(ctxs))

    def _release(self, ctxs: list[JobContext]) -> None:
        self.in_hand.remove(ctxs)
        for ctx in ctxs:
            ctx.cleanup()
            if not ctx.ended:
                self.hub.send(Done(ctx.job_id))

    def end_early(self, ctx: JobContext) -> None:
        """Record the end of one job of a model call that goes on for the others: stopped
        (canceled, or at its timeout)."""
        ctx.ended = True
        ctx.flush_text()
        self.finisher.finish(ctx, **ctx.stopped_end())

    def _execute(self, ctxs: list[JobContext]) -> tuple[RegisteredModel, list[JobContext], float]:
        """Run the model call; record the ends of jobs that did not succeed. Returns the
        model, the jobs that succeeded (their outputs still to be stored) and the call's
        duration."""
        finish = self.finisher.finish
        registered = self.registry.get(ctxs[0].claim.job.model)
        loading = time.perf_counter()
        try:
            loaded_now = self.loaded.use(registered)
        except Exception as exc:
            _waited_for_load(ctxs, loading)
            log.exception("model %s failed to load", registered.name)
            load_failed = Failure("model_load_failed", f"{type(exc).__name__}: {exc}")
            for ctx in ctxs:
                finish(ctx, error=load_failed)
            return registered, [], 0.0
        if loaded_now:
            _waited_for_load(ctxs, loading)
        started = time.perf_counter()
        ends = dict.fromkeys((ctx.job_id for ctx in ctxs), self._call(registered, ctxs))
        stopped, error = ends[ctxs[0].job_id]
        if len(ctxs) > 1 and error is not None and error.code == "invalid_input":
            # One job's input may fail a call of several: each runs again on its own, so that
            # only a job whose input is at fault fails, with its own message.
            for ctx in ctxs:
                if not ctx.ended:
                    ends[ctx.job_id] = self._call_alone(registered, ctx)
        elapsed = time.perf_counter() - started
        succeeded = []
        for ctx in ctxs:
            if ctx.ended:
                continue
            stopped, error = ends[ctx.job_id]
            ctx.flush_text()
            if stopped and ctx.stop.is_set():
                finish(ctx, **ctx.stopped_end(), inference_time=elapsed)
            elif stopped:
                # Only a batched model call can stop with some of its jobs still wanted.
                lost = Failure("model_error", "the model stopped before finishing the job")
                finish(ctx, error=lost, inference_time=elapsed)
            elif error is not None:
                finish(ctx, error=error, inference_time=elapsed)
            elif ctx.out_of_time():
                # Made in a call that ended past its timeout: the limit holds all the same.
                finish(ctx, error=ctx.timeout_failure(), inference_time=elapsed)
            else:
                succeeded.append(ctx)
        return registered, succeeded, elapsed

    def _call(
        self, registered: RegisteredModel, ctxs: list[JobContext]
    ) -> tuple[bool, Failure | None]:
        """Run one model call: whether it stopped, and the failure of its jobs, if any."""
        try:
            self._predict(registered, ctxs)
        except Stopped:
            return True, None
        except InputError as exc:
            return False, Failure("invalid_input", str(exc))
        except Exception as exc:
            return False, self._model_error(registered, ctxs, exc)
        self.batching.succeeded(registered)
        return False, None

    def _call_alone(
        self, registered: RegisteredModel, ctx: JobContext
    ) -> tuple[bool, Failure | None]:
        """Run a job of a failed model call again in a call of its own, what the first left
        of it dropped."""
        ctx.forget_call()
        return self._call(registered, [ctx])

    def _predict(self, registered: RegisteredModel, ctxs: list[JobContext]) -> None:
        if len(ctxs) == 1:
            ctx = ctxs[0]
            ctx.check_stop()
            registered.model.predict(dict(ctx.claim.job.input), ctx)
            ctx.check_stop()
            return
        inputs = [dict(ctx.claim.job.input) for ctx in ctxs]
        contexts: list[RunContext] = list(ctxs)
        registered.model.predict_batch(inputs, contexts)

    def _model_error(
        self, registered: RegisteredModel, ctxs: list[JobContext], exc: Exception
    ) -> Failure:
        if is_disk_full(exc):  # the model's own writes: no model error, no retry will help
            log.warning("job(s) %s: %r", ", ".join(c.job_id for c in ctxs), exc)
            return storage_failure(exc)
        if not is_out_of_memory(exc):
            log.info("job(s) %s failed: %r", ", ".join(c.job_id for c in ctxs), exc)
            return Failure("model_error", str(exc) or type(exc).__name__)
        free_accelerator_cache()
        self.batching.out_of_memory(registered)
        return Failure("out_of_memory", f"the model ran out of memory: {exc}")

    def abandon(self) -> None:
        """The supervisor is gone: put the jobs in hand back in the queue now, rather than
        when their leases lapse (a job out of attempts fails, one whose cancel was asked for
        ends canceled). The caller then ends the process."""
        self.claims.stopping.set()
        # Outputs already made are worth keeping: storing them needs no supervisor, so let it
        # end (within a bound) rather than run those jobs again.
        self.finisher.settle(ABANDON_FINISH_SECONDS)
        # The models are not asked to stop: a job stopped that way would be recorded as
        # canceled before the release could take it back.
        with self.claims.held():
            ctxs = self.in_hand.all()
        try:
            released = self.store.release_worker(
                self.worker_id, time.time(), self.settings.max_attempts
            )
        except Exception as exc:
            log.warning("could not hand back jobs %s: %r", [c.job_id for c in ctxs], exc)
        else:
            log.warning(
                "%d job(s) handed back to the queue, %d ended",
                len(released.requeued),
                len(released.failed),
            )
        for ctx in ctxs:
            ctx.cleanup()


def _waited_for_load(ctxs: list[JobContext], since: float) -> None:
    """Each job of a model call waited for the model's load (begun at ``since``,
    ``time.perf_counter``), making room for it included, whether it loaded or failed."""
    load_time = time.perf_counter() - since
    for ctx in ctxs:
        ctx.load_time = load_time


def worker_main(
    settings_data: dict[str, Any],
    worker_id: str,
    conn: Connection,
    models: list[str] | None = None,
    burst: bool = False,
    threads: int | None = None,
) -> None:
    """Entry point of a supervised worker process; ``threads``: its share of the CPU cores
    for math libraries, unless the environment already says."""
    if threads is not None:
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, str(threads))
    # The supervisor decides when a worker ends: Ctrl-C in a terminal (and a service
    # manager's SIGTERM to the whole group) reaches every process, and the supervisor then
    # stops its workers in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The supervisor's process chose the format; the environment carries it here.
    logs.setup(logs.log_format(), worker=worker_id)
    settings = Settings.model_validate(settings_data)
    worker = Worker(settings, worker_id, conn=conn, models=models)

    # Only here is the store this process's own: a Worker run inside another process shares
    # that process's store and its announcements.
    worker.store.on_change(worker.forward)
    watch_supervisor(lambda: _orphaned(worker))
    worker.run(burst=burst)


#: How long an orphaned worker may take to hand its jobs back before it exits regardless.
ABANDON_SECONDS = 10.0


def _orphaned(worker: Worker) -> None:
    """End a worker whose supervisor died: nobody would hear of its jobs, and a restarted
    server's workers would compete with it for the accelerator."""
    # A database out of reach must not keep the process alive.
    backstop = threading.Timer(ABANDON_SECONDS, os._exit, (1,))
    backstop.daemon = True
    backstop.start()
    worker.abandon()
    os._exit(1)
