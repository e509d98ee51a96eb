"""What a model sees of the job it runs: its stop flag, and where its progress, text, logs
and outputs go; and the jobs a worker holds at a time."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genq import metrics
from genq.deadlines import run_deadline, timeout_failure
from genq.errors import StoreUnavailable
from genq.jobs import Claim, EventType, Failure, ProgressRecord
from genq.limits import stored_json, stored_text
from genq.media import fetch
from genq.models.base import DEFAULT_MAX_AUDIO_SECONDS, RunContext
from genq.worker.outputs import PendingOutput

if TYPE_CHECKING:
    from genq.worker.runner import Worker

log = logging.getLogger("genq.worker")


class JobContext(RunContext):
    def __init__(self, worker: Worker, claim: Claim, *, batched: bool = False) -> None:
        self.worker = worker
        self.claim = claim
        self.job_id = claim.job.id
        self.outputs: list[PendingOutput] = []
        self.stop = threading.Event()
        #: One of several jobs in one model call: a stop ends this job alone, at once.
        self.batched = batched
        #: The job's end is recorded; what the model still does for it is dropped.
        self.ended = False
        #: Seconds its model call waited for the model to load; None: it was loaded already.
        self.load_time: float | None = None
        self._last_progress = 0.0
        self._text: list[str] = []
        self._last_text = 0.0
        self._deferred: list[Callable[[], None]] = []
        self._progress: list[ProgressRecord] = []
        self._progress_lock = threading.Lock()
        self._work_dir: Path | None = None
        #: When its timeout ends (``time.monotonic``); None: it has none.
        self.timeout_at = _monotonic(run_deadline(claim.job))
        #: Stopped because its timeout ended, not at its caller's request.
        self.timed_out = False

    @property
    def work_dir(self) -> Path:
        # Made on demand: most of a no-op job's cost would otherwise be this folder.
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix=f"genq-{self.job_id}-"))
        return self._work_dir

    def cleanup(self) -> None:
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    @property
    def stop_requested(self) -> bool:
        if not self.stop.is_set():
            self.worker.claims.receive(0)
            if self.out_of_time():
                self.timed_out = True
                self.stop.set()
        if self.stop.is_set() and self.batched and not self.ended:
            # The model goes on for the other jobs of its call; this one ends now.
            self.worker.end_early(self)
        return self.stop.is_set()

    def out_of_time(self) -> bool:
        """Whether its timeout has ended."""
        return self.timeout_at is not None and time.monotonic() >= self.timeout_at

    def stopped_end(self) -> dict[str, Any]:
        """How it ends when its model stopped it: failed at its timeout, else canceled (the
        arguments of ``Finisher.finish``)."""
        if self.timed_out:
            return {"error": self.timeout_failure()}
        return {"canceled": True}

    def timeout_failure(self) -> Failure:
        return timeout_failure(self.claim.job.timeout_seconds or 0.0)

    def progress(self, step: int, total: int, message: str | None = None) -> None:
        if self.ended:
            return
        now = time.time()
        interval = self.worker.settings.progress_interval_seconds
        # The last step of a known total is always stored; a count without one (total 0) is
        # throttled all along.
        if (step < total or total <= 0) and now - self._last_progress < interval:
            return
        self._last_progress = now
        if message is not None:
            message = stored_text(message)
        # Written by the reporter thread: the model's thread goes straight on to its next
        # step instead of waiting for the database.
        with self._progress_lock:
            self._progress.append(ProgressRecord(step, total, message))
        self.worker.finisher.report(self.write_progress)

    def write_progress(self) -> None:
        """Store the progress reported since the last write, in order."""
        with self._progress_lock:
            for progress in self._progress:
                # Progress and log lines are worth a job's failure to nobody: through a
                # database outage they are dropped, and the job goes on.
                with self._best_effort():
                    self.worker.store.set_progress(self.claim, progress, time.time())
            self._progress.clear()

    def text(self, delta: str) -> None:
        if self.ended or not delta:
            return
        self._text.append(delta)
        # Tokens come faster than anyone reads them: one event per progress interval.
        if time.time() - self._last_text >= self.worker.settings.progress_interval_seconds:
            self.flush_text()

    def forget_call(self) -> None:
        """Drop what a model call added (outputs, work deferred, text not yet sent) before the
        job runs again in a call of its own."""
        self.outputs.clear()
        self._deferred.clear()
        self._text.clear()
        self.batched = False

    def flush_text(self) -> None:
        if not self._text:
            return
        now = time.time()
        delta = stored_text("".join(self._text), limit=None)
        self._text.clear()
        self._last_text = now
        with self._best_effort():
            self.worker.store.add_event(self.claim, EventType.TEXT, {"delta": delta}, now)

    def partial(self, value: Any) -> None:
        if self.ended:
            return
        # The text streamed before it comes before it.
        self.flush_text()
        try:
            data = {"value": stored_json(value)}
        except ValueError as exc:
            self.log(f"a streamed value was dropped: {exc}")
            return
        with self._best_effort():
            self.worker.store.add_event(self.claim, EventType.PARTIAL, data, time.time())

    def defer(self, work: Callable[[], None]) -> None:
        self._deferred.append(work)

    @property
    def nothing_to_store(self) -> bool:
        """Only the end is left to record: no output to store, no deferred work."""
        return not self.outputs and not self._deferred

    def run_deferred(self) -> None:
        for work in self._deferred:
            work()
        self._deferred.clear()

    def fetch_image(self, ref: str, *, size: fetch.Resize | None = None) -> Any:
        settings = self.worker.settings
        with self._counting_refusals():
            return fetch.fetch_image(
                ref,
                max_bytes=settings.reference_max_bytes,
                max_pixels=settings.reference_max_pixels,
                size=size,
                allow_private=settings.reference_allow_private,
                job_id=self.job_id,
            )

    def fetch_audio(
        self, ref: str, *, sample_rate: int, max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS
    ) -> Any:
        settings = self.worker.settings
        with self._counting_refusals():
            return fetch.fetch_audio(
                ref,
                sample_rate=sample_rate,
                max_seconds=max_seconds,
                max_bytes=settings.reference_max_bytes,
                allow_private=settings.reference_allow_private,
                job_id=self.job_id,
            )

    def fetch_file(self, ref: str) -> Path:
        settings = self.worker.settings
        folder = Path(tempfile.mkdtemp(prefix="fetched-", dir=self.work_dir))
        with self._counting_refusals():
            return fetch.fetch_file(
                ref,
                folder,
                max_bytes=settings.reference_max_bytes,
                allow_private=settings.reference_allow_private,
                job_id=self.job_id,
            )[0]

    @contextlib.contextmanager
    def _counting_refusals(self) -> Iterator[None]:
        """Count a refused reference in the operator's figures, by its kind, and let it go on."""
        try:
            yield
        except fetch.RefusedReference as refusal:
            self.worker.hub.observe(metrics.reference_refused(refusal.kind))
            raise

    def log(self, message: str) -> None:
        if self.ended:
            return
        with self._best_effort():
            self.worker.store.add_event(
                self.claim, EventType.LOG, {"message": stored_text(message)}, time.time()
            )

    @contextlib.contextmanager
    def _best_effort(self) -> Iterator[None]:
        try:
            yield
        except StoreUnavailable as exc:
            self.worker.hub.observe(metrics.store_error("event"))
            log.warning("job %s: %s", self.job_id, exc.message)

    def add_output(
        self,
        path: Path,
        content_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
    ) -> None:
        if not Path(path).is_file():
            raise ValueError(f"output {path} is not a file")
        if self.ended:
            return
        self.outputs.append(PendingOutput(Path(path), content_type, width, height, duration))


def _monotonic(at: float | None) -> float | None:
    """A ``time.time()`` as a ``time.monotonic()``: a wall clock set meanwhile moves no limit."""
    return None if at is None else time.monotonic() + (at - time.time())


class InHand:
    """The jobs a worker holds: the model call's, and the previous call's while they are
    finished. Read by the heartbeat and the supervisor's cancels from other threads."""

    def __init__(self) -> None:
        self._ctxs: list[JobContext] = []
        self._lock = threading.Lock()

    def add(self, ctxs: list[JobContext]) -> None:
        with self._lock:
            self._ctxs.extend(ctxs)

    def remove(self, ctxs: list[JobContext]) -> None:
        with self._lock:
            self._ctxs = [ctx for ctx in self._ctxs if ctx not in ctxs]

    def all(self) -> list[JobContext]:
        with self._lock:
            return list(self._ctxs)

    def running(self) -> list[JobContext]:
        """The jobs whose end is not recorded yet."""
        with self._lock:
            return [ctx for ctx in self._ctxs if not ctx.ended]

    def stop(self, job_id: str) -> None:
        with self._lock:
            for ctx in self._ctxs:
                if ctx.job_id == job_id:
                    ctx.stop.set()
