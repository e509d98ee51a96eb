"""Recording the ends of jobs: a success with its stored outputs and actual cost, a failure
or a cancel; through a database outage for as long as the lease would last. Successes with
outputs are finished on a thread of their own while the next model call runs, so that the
device does not wait for disks; progress is written on another."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from genq import metrics
from genq.errors import StoreUnavailable
from genq.jobs import Failure, JobRecord, OutputRecord, Status
from genq.models.registry import ModelRegistry, RegisteredModel
from genq.settings import Settings
from genq.storage import FileStorage
from genq.store import JobStore
from genq.worker.context import JobContext
from genq.worker.outputs import actual_cost, storage_failure, store_output, stored_keys
from genq.worker.protocol import Done, Hub
from genq.worker.retrying import retry_later

log = logging.getLogger("genq.worker")


@dataclass(eq=False)
class Finisher:
    settings: Settings
    store: JobStore
    storage: FileStorage
    registry: ModelRegistry
    #: Told of each end as soon as it is recorded (``Done``).
    hub: Hub
    #: Called with the jobs of a model call once their ends are recorded.
    release: Callable[[list[JobContext]], None]

    def __post_init__(self) -> None:
        self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genq-finish")
        self._reporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genq-progress")
        self._finishing: Future[None] | None = None

    def report(self, write: Callable[[], None]) -> None:
        """Run ``write`` on the reporter thread: the model's thread goes straight on."""
        self._reporter.submit(write)

    def drain(self) -> None:
        """Wait until the jobs of the last model call are finished."""
        if self._finishing is not None:
            self._finishing.result()
            self._finishing = None

    def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the jobs being finished, whatever becomes of them."""
        finishing = self._finishing
        if finishing is not None:
            with contextlib.suppress(Exception):
                finishing.result(timeout=timeout)

    def succeed(
        self, registered: RegisteredModel, ctxs: list[JobContext], elapsed: float, size: int
    ) -> None:
        """Store the outputs of the jobs of a model call of ``size`` jobs that succeeded, and
        record their ends, on the finisher thread after the previous call's; then release
        them. Jobs with nothing to store are finished here and now: handing one write to
        another thread costs more than the write (thread switches, and two connections
        taking turns at the database's write lock)."""
        self.drain()
        if all(ctx.nothing_to_store for ctx in ctxs):
            self._complete(registered, ctxs, elapsed, size)
        else:
            self._finishing = self._finisher.submit(self._complete, registered, ctxs, elapsed, size)

    def _complete(
        self, registered: RegisteredModel, ctxs: list[JobContext], elapsed: float, size: int
    ) -> None:
        try:
            for ctx in ctxs:
                if size > 1:
                    ctx.log(f"ran in a batch of {size} jobs")
                self._succeed(registered, ctx, elapsed)
        except Exception:
            log.exception("finishing jobs %s failed", ", ".join(c.job_id for c in ctxs))
        finally:
            self.release(ctxs)

    def _succeed(self, registered: RegisteredModel, ctx: JobContext, elapsed: float) -> None:
        claim = ctx.claim
        try:
            ctx.run_deferred()
        except Exception as exc:
            log.info("job %s failed after its model call: %r", claim.job.id, exc)
            error = Failure("model_error", str(exc) or type(exc).__name__)
            self.finish(ctx, error=error, inference_time=elapsed)
            return
        outputs: list[OutputRecord] = []
        try:
            for index, pending in enumerate(ctx.outputs):
                outputs.append(store_output(self.storage, ctx, index, pending))
        except Exception as exc:
            log.exception("storing outputs of %s failed", claim.job.id)
            try:
                self.storage.delete_keys(stored_keys(outputs))
            except Exception:
                # The job's end comes first: what is left goes when the job is deleted or
                # expires (``delete_job`` takes every file of every attempt).
                log.exception("could not remove the stored outputs of %s", claim.job.id)
            self.finish(ctx, error=storage_failure(exc), inference_time=elapsed)
            return
        cost = actual_cost(self.registry, registered.name, claim.job, outputs)
        job = self.finish(ctx, outputs=outputs, cost_actual=cost, inference_time=elapsed)
        if job is None or job.status is not Status.SUCCEEDED:
            # The lease was lost (deleted, taken back) or a late cancel won: these files
            # belong to no job.
            self.storage.delete_keys(stored_keys(outputs))

    def finish(self, ctx: JobContext, **kwargs: Any) -> JobRecord | None:
        """Record the end (or, after a failure its model retries, queue the job again); through
        a database outage, for as long as the lease would last. Then the job is out of hand,
        and the supervisor told (``Done``), whatever became of it."""
        ctx.write_progress()  # what the reporter has not written yet comes before the end
        try:
            with self.hub.told_later():
                # A failure that may go away puts the job back in the queue instead.
                error = kwargs.get("error")
                job = retry_later(self.store, self.registry, ctx.claim, error)
                if job is None:
                    job = self._record_end(ctx, **kwargs)
                elif error is not None:
                    self.hub.observe(("retried", (job.model, error.code), 1))
            if job is not None:
                self.hub.observe(*metrics.ended(job))
            return job
        finally:
            ctx.ended = True
            self.hub.send(Done(ctx.job_id))

    def _record_end(self, ctx: JobContext, **kwargs: Any) -> JobRecord | None:
        deadline = time.monotonic() + self.settings.lease_seconds
        delay = 0.1
        retried = False
        while True:
            try:
                job = self.store.finish(ctx.claim, time.time(), load_time=ctx.load_time, **kwargs)
                break
            except StoreUnavailable as exc:
                self.hub.observe(metrics.store_error("finish"))
                if time.monotonic() > deadline:
                    log.error("could not record the end of job %s: %s", ctx.job_id, exc.message)
                    return None
                log.warning("%s; retrying in %.1f s", exc.message, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                retried = True
        if job is None and retried:
            # An attempt whose answer was lost may have been recorded after all.
            current = self.store.get_job_any_account(ctx.job_id, time.time())
            if (
                current is not None
                and current.terminal
                and current.attempts == ctx.claim.attempt
                and current.outputs == tuple(kwargs.get("outputs", ()))
            ):
                return current
        return job
