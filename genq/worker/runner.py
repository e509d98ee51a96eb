"""A worker process: claims jobs, runs their models, records progress, outputs and the end.

It talks to its supervisor over a pipe, in the messages of ``genq.worker.protocol``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from genq.errors import StoreUnavailable
from genq.jobs import Claim, EventType, Job, JobError, JobStatus, Output, Progress
from genq.limits import stored_text
from genq.media import fetch
from genq.media.encode import video_thumbnail
from genq.models.base import InputError, RunContext, Stopped
from genq.models.registry import ModelRegistry, RegisteredModel
from genq.settings import Settings
from genq.storage import FileStorage, open_storage
from genq.store import JobStore, open_store
from genq.worker.lifeline import supervisor_alive, watch_supervisor
from genq.worker.loaded import GIB, LoadedModels, free_accelerator_cache
from genq.worker.protocol import Busy, Cancel, Changed, Done, Hub, Idle, Stop

log = logging.getLogger("genq.worker")
#: Longest a worker whose supervisor died waits for outputs being stored before it leaves.
ABANDON_FINISH_SECONDS = 5.0

T = TypeVar("T")

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "text/plain": "txt",
    "application/json": "json",
}


@dataclass
class PendingOutput:
    path: Path
    content_type: str
    width: int | None
    height: int | None
    duration: float | None


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
        self._last_progress = 0.0
        self._text: list[str] = []
        self._last_text = 0.0
        self._deferred: list[Callable[[], None]] = []
        self._progress: list[Progress] = []
        self._progress_lock = threading.Lock()
        self._work_dir: Path | None = None

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
            self.worker.receive(0)
        if self.stop.is_set() and self.batched and not self.ended:
            # The model goes on for the other jobs of its call; this one ends now.
            self.worker.end_early(self, canceled=True)
        return self.stop.is_set()

    def progress(self, step: int, total: int, message: str | None = None) -> None:
        if self.ended:
            return
        now = time.time()
        interval = self.worker.settings.progress_interval_seconds
        if step < total and now - self._last_progress < interval:
            return
        self._last_progress = now
        if message is not None:
            message = stored_text(message)
        # Written by the reporter thread: the model's thread goes straight on to its next
        # step instead of waiting for the database.
        with self._progress_lock:
            self._progress.append(Progress(step, total, message))
        self.worker.report(self.write_progress)

    def write_progress(self) -> None:
        """Store the progress reported since the last write, in order."""
        with self._progress_lock:
            for progress in self._progress:
                # Progress and log lines are worth a job's failure to nobody: through a
                # database outage they are dropped, and the job goes on.
                with self._best_effort():
                    if self.worker.store.set_progress(self.claim, progress, time.time()):
                        self.worker.hub.send(Changed(self.job_id))
            self._progress.clear()

    def text(self, delta: str) -> None:
        if self.ended or not delta:
            return
        self._text.append(delta)
        # Tokens come faster than anyone reads them: one event per progress interval.
        if time.time() - self._last_text >= self.worker.settings.progress_interval_seconds:
            self.flush_text()

    def flush_text(self) -> None:
        if not self._text:
            return
        now = time.time()
        delta = stored_text("".join(self._text), limit=None)
        self._text.clear()
        self._last_text = now
        with self._best_effort():
            if self.worker.store.add_event(self.claim, EventType.TEXT, {"delta": delta}, now):
                self.worker.hub.send(Changed(self.job_id))

    def defer(self, work: Callable[[], None]) -> None:
        self._deferred.append(work)

    def run_deferred(self) -> None:
        for work in self._deferred:
            work()
        self._deferred.clear()

    def fetch_image(self, ref: str, *, size: fetch.Resize | None = None) -> Any:
        settings = self.worker.settings
        return fetch.fetch_image(
            ref,
            max_bytes=settings.reference_max_bytes,
            max_pixels=settings.reference_max_pixels,
            size=size,
            allow_private=settings.reference_allow_private,
            job_id=self.job_id,
        )

    def log(self, message: str) -> None:
        if self.ended:
            return
        with self._best_effort():
            if self.worker.store.add_event(
                self.claim, EventType.LOG, {"message": stored_text(message)}, time.time()
            ):
                self.worker.hub.send(Changed(self.job_id))

    @contextlib.contextmanager
    def _best_effort(self) -> Iterator[None]:
        try:
            yield
        except StoreUnavailable as exc:
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
        self.loaded = LoadedModels(int(budget * GIB) if budget is not None else None)
        #: Model name -> a lower batch limit after repeated out-of-memory errors.
        self._batch_limits: dict[str, int] = {}
        self._oom_streak: dict[str, int] = {}
        self._stopping = threading.Event()
        self._exited = threading.Event()
        #: Jobs in hand: the model call's, and the previous call's while they are finished.
        self._current: list[JobContext] = []
        self._current_lock = threading.Lock()
        self._receive_lock = threading.Lock()
        self._claim_lock = threading.Lock()
        # Storing a call's outputs and recording its jobs' ends happens on this thread while
        # the next call runs, so that the device does not wait for disks and databases.
        self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genq-finish")
        self._reporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genq-progress")
        self._finishing: Future[None] | None = None

    # -- messages from the supervisor ----------------------------------------------------
    def receive(self, timeout: float) -> None:
        """Handle the supervisor's messages, waiting up to ``timeout`` s for the first one.

        The thread that runs jobs reads them itself, between jobs and whenever a model asks
        whether to stop: a listener thread would add a thread hand-off to every wake-up.
        """
        conn = self.hub.conn
        if conn is None:
            self._stopping.wait(timeout)
            return
        if not self._receive_lock.acquire(blocking=False):
            return  # another thread is reading the pipe
        try:
            self._receive(conn, timeout)
        finally:
            self._receive_lock.release()

    def _receive(self, conn: Connection, timeout: float) -> None:
        try:
            ready = conn.poll(timeout)
            while ready:
                match conn.recv():
                    case Cancel(job_id):
                        self._stop_job(job_id)
                    case Stop():
                        self._stopping.set()
                # A Wake needs nothing more: the caller claims next.
                ready = conn.poll(0)
        except (EOFError, OSError):
            # The supervisor died: claim nothing more. The lifeline thread hands the jobs in
            # hand back and ends the process.
            self._stopping.set()

    def abandon(self) -> None:
        """The supervisor is gone: put the jobs in hand back in the queue now, rather than
        when their leases lapse (a job out of attempts fails, one whose cancel was asked for
        ends canceled). The caller then ends the process."""
        self._stopping.set()
        finishing = self._finishing
        if finishing is not None:
            # Outputs already made are worth keeping: storing them needs no supervisor, so
            # let it end (within a bound) rather than run those jobs again.
            with contextlib.suppress(Exception):
                finishing.result(timeout=ABANDON_FINISH_SECONDS)
        # The models are not asked to stop: a job stopped that way would be recorded as
        # canceled before the release could take it back.
        with self._claim_lock, self._current_lock:
            ctxs = list(self._current)
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

    def _stop_job(self, job_id: str) -> None:
        with self._current_lock:
            for ctx in self._current:
                if ctx.job_id == job_id:
                    ctx.stop.set()

    def _heartbeat(self) -> None:
        """Every third of a lease: say this worker is alive, renew the current job's lease,
        and stop the job if told to."""
        while not self._exited.wait(self.settings.lease_seconds / 3):
            with self._current_lock:
                ctxs = [ctx for ctx in self._current if not ctx.ended]
            try:
                self._register()
                if not ctxs:
                    continue
                stop = self.store.heartbeat(
                    [ctx.claim for ctx in ctxs], time.time(), self.settings.lease_seconds
                )
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            for ctx in ctxs:
                if ctx.job_id in stop:
                    ctx.stop.set()

    def _register(self) -> None:
        self.store.register_worker(
            self.worker_id, self.models, socket.gethostname(), os.getpid(), time.time()
        )

    # -- the loop ------------------------------------------------------------------------
    def run(self, *, burst: bool = False) -> int:
        """Run jobs until told to stop (or, in burst mode, until the queue is empty)."""
        self._until_available(self._register)
        heartbeat = threading.Thread(target=self._heartbeat, name="genq-heartbeat", daemon=True)
        heartbeat.start()
        try:
            return self._loop(burst)
        finally:
            self.drain()
            self._exited.set()
            heartbeat.join()
            self.loaded.close()
            with contextlib.suppress(StoreUnavailable):
                self.store.unregister_worker(self.worker_id)

    def _until_available(self, call: Callable[[], T]) -> T:
        """Make a store call, waiting out a database outage (unless told to stop)."""
        delay = 0.1
        while True:
            try:
                return call()
            except StoreUnavailable as exc:
                if self._stopping.is_set():
                    raise
                log.warning("%s; retrying in %.1f s", exc.message, delay)
                self.receive(delay)
                delay = min(delay * 2, 5.0)

    def _loop(self, burst: bool) -> int:
        done = 0
        while not self._stopping.is_set():
            try:
                claims = self._until_available(lambda: self._claim(self.models))
            except StoreUnavailable:
                break
            if not claims:
                if burst or self._stopping.is_set():
                    break
                self.hub.send(Idle())
                self.receive(self.settings.poll_interval_seconds)
                continue
            for claim in claims:
                batch = self._fill_batch(claim)
                self.run_batch(batch)
                done += len(batch)
        return done

    def _claim(
        self, models: list[str], *, limit: int = 1, batch_key: str | None = None
    ) -> list[Claim]:
        """Claim queued jobs, unless this worker is stopping or its supervisor is gone.

        Without the check, a worker that has not yet noticed its supervisor's death would
        claim the job another orphan just handed back, spending an attempt of it for
        nothing; ``abandon`` waits for a claim under way, and hands back what it took."""
        with self._claim_lock:
            if self.hub.conn is not None and not supervisor_alive():
                self._stopping.set()
            if self._stopping.is_set():
                return []
            return self.store.claim(
                self.worker_id,
                models,
                time.time(),
                self.settings.lease_seconds,
                limit=limit,
                batch_key=batch_key,
            )

    def batch_limit(self, registered: RegisteredModel) -> int:
        return min(registered.max_batch, self._batch_limits.get(registered.name, 1 << 30))

    def _fill_batch(self, first: Claim) -> list[Claim]:
        """``first`` and the queued jobs that may share its model call, waiting up to the
        model's batch wait for companions (never longer, so a lone job is barely delayed)."""
        key = first.job.batch_key
        if key is None:
            return [first]
        registered = self.registry.get(first.job.model)
        limit = self.batch_limit(registered)
        batch = [first]
        deadline = time.monotonic() + registered.batch_wait
        while len(batch) < limit:
            try:
                batch += self._claim([registered.name], limit=limit - len(batch), batch_key=key)
            except StoreUnavailable:
                break
            left = deadline - time.monotonic()
            if len(batch) >= limit or left <= 0:
                break
            # A wake from the supervisor (a job was queued) ends the wait early.
            self.receive(min(left, 0.002))
        return batch

    def run_job(self, claim: Claim) -> None:
        self.run_batch([claim])
        self.drain()

    def report(self, write: Callable[[], None]) -> None:
        self._reporter.submit(write)

    def drain(self) -> None:
        """Wait until the jobs of the last model call are finished."""
        if self._finishing is not None:
            self._finishing.result()
            self._finishing = None

    def run_batch(self, claims: list[Claim]) -> None:
        """Run jobs of one model in one model call (a single job: a plain ``predict``). The
        jobs that succeed are finished on the finisher thread, after the previous call's."""
        ctxs = [JobContext(self, claim, batched=len(claims) > 1) for claim in claims]
        for ctx in ctxs:
            self.hub.send(Busy(ctx.job_id))
            if ctx.claim.job.cancel_requested:
                ctx.stop.set()
        with self._current_lock:
            self._current.extend(ctxs)
        succeeded: list[JobContext] = []
        try:
            registered, succeeded, elapsed = self._execute(ctxs)
        finally:
            self._release([ctx for ctx in ctxs if ctx not in succeeded])
        if succeeded:
            self.drain()
            self._finishing = self._finisher.submit(
                self._complete, registered, succeeded, elapsed, len(ctxs)
            )

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
            self._release(ctxs)

    def _release(self, ctxs: list[JobContext]) -> None:
        with self._current_lock:
            self._current = [ctx for ctx in self._current if ctx not in ctxs]
        for ctx in ctxs:
            ctx.cleanup()
            if not ctx.ended:
                self.hub.send(Done(ctx.job_id))

    def end_early(self, ctx: JobContext, *, canceled: bool) -> None:
        """Record the end of one job of a model call that goes on for the others."""
        ctx.ended = True
        ctx.flush_text()
        self._finish(ctx, canceled=canceled)
        self.hub.send(Done(ctx.job_id))

    def _execute(self, ctxs: list[JobContext]) -> tuple[RegisteredModel, list[JobContext], float]:
        """Run the model call; record the ends of jobs that did not succeed. Returns the
        model, the jobs that succeeded (their outputs still to be stored) and the call's
        duration."""
        registered = self.registry.get(ctxs[0].claim.job.model)
        try:
            self.loaded.use(registered)
        except Exception as exc:
            log.exception("model %s failed to load", registered.name)
            load_failed = JobError("model_load_failed", f"{type(exc).__name__}: {exc}")
            for ctx in ctxs:
                self._finish(ctx, error=load_failed)
            return registered, [], 0.0
        started = time.perf_counter()
        error: JobError | None = None
        stopped = False
        try:
            self._predict(registered, ctxs)
        except Stopped:
            stopped = True
        except InputError as exc:
            error = JobError("invalid_input", str(exc))
        except Exception as exc:
            error = self._model_error(registered, ctxs, exc)
        else:
            self._oom_streak.pop(registered.name, None)
        elapsed = time.perf_counter() - started
        succeeded = []
        for ctx in ctxs:
            if ctx.ended:
                continue
            ctx.flush_text()
            if stopped and ctx.stop.is_set():
                self._finish(ctx, canceled=True, inference_time=elapsed)
            elif stopped:
                # Only a batched model call can stop with some of its jobs still wanted.
                lost = JobError("model_error", "the model stopped before finishing the job")
                self._finish(ctx, error=lost, inference_time=elapsed)
            elif error is not None:
                self._finish(ctx, error=error, inference_time=elapsed)
            else:
                succeeded.append(ctx)
        return registered, succeeded, elapsed

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
    ) -> JobError:
        if not is_out_of_memory(exc):
            log.info("job(s) %s failed: %r", ", ".join(c.job_id for c in ctxs), exc)
            return JobError("model_error", str(exc) or type(exc).__name__)
        free_accelerator_cache()
        streak = self._oom_streak.get(registered.name, 0) + 1
        self._oom_streak[registered.name] = streak
        limit = self.batch_limit(registered)
        if streak >= 2 and limit > 1:
            # Twice in a row: this model's batches are too big for the memory left.
            self._batch_limits[registered.name] = limit // 2
            self._oom_streak[registered.name] = 0
            log.warning(
                "model %s ran out of memory twice: batches of at most %d from now on",
                registered.name,
                limit // 2,
            )
        return JobError("out_of_memory", f"the model ran out of memory: {exc}")

    def _succeed(self, registered: RegisteredModel, ctx: JobContext, elapsed: float) -> None:
        claim = ctx.claim
        try:
            ctx.run_deferred()
        except Exception as exc:
            log.info("job %s failed after its model call: %r", claim.job.id, exc)
            error = JobError("model_error", str(exc) or type(exc).__name__)
            self._finish(ctx, error=error, inference_time=elapsed)
            return
        outputs: list[Output] = []
        try:
            for index, pending in enumerate(ctx.outputs):
                outputs.append(self._store_output(ctx, index, pending))
        except Exception as exc:
            log.exception("storing outputs of %s failed", claim.job.id)
            self.storage.delete_keys(stored_keys(outputs))
            self._finish(ctx, error=JobError("storage_error", str(exc)), inference_time=elapsed)
            return
        media_seconds = sum(o.duration or 0.0 for o in outputs)
        origin = claim.job.origin
        price = self.registry.price_for(registered.name, origin.model if origin else None)
        cost = price.cost(len(outputs), media_seconds)
        job = self._finish(ctx, outputs=outputs, cost_actual=cost, inference_time=elapsed)
        if job is None or job.status is not JobStatus.SUCCEEDED:
            # The lease was lost (deleted, taken back) or a late cancel won: these files
            # belong to no job.
            self.storage.delete_keys(stored_keys(outputs))

    def _store_output(self, ctx: JobContext, index: int, pending: PendingOutput) -> Output:
        digest = hashlib.sha256()
        with pending.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        base_type = pending.content_type.split(";")[0].strip()
        extension = EXTENSIONS.get(base_type) or pending.path.suffix.lstrip(".") or "bin"
        key = f"{ctx.job_id}/{ctx.claim.attempt}/output-{index}.{extension}"
        self.storage.put(key, pending.path, base_type)
        thumbnail = None
        if base_type.startswith("video/"):
            thumbnail = self._store_thumbnail(ctx, pending.path, f"{key}.thumbnail.jpg")
        return Output(
            key=key,
            content_type=pending.content_type,
            size=pending.path.stat().st_size,
            sha256=digest.hexdigest(),
            width=pending.width,
            height=pending.height,
            duration=pending.duration,
            thumbnail=thumbnail,
        )

    def _store_thumbnail(self, ctx: JobContext, video: Path, key: str) -> str | None:
        """A JPEG of the video's first frame, stored beside it; None if it cannot be made
        (the video itself is still a result)."""
        try:
            path = video_thumbnail(video, ctx.work_dir / f"{video.name}.thumbnail")
            self.storage.put(key, path, "image/jpeg")
        except Exception as exc:
            log.warning("no thumbnail for %s of job %s: %r", video.name, ctx.job_id, exc)
            return None
        return key

    def _finish(self, ctx: JobContext, **kwargs: Any) -> Job | None:
        """Record the end; through a database outage, for as long as the lease would last."""
        ctx.write_progress()  # what the reporter has not written yet comes before the end
        deadline = time.monotonic() + self.settings.lease_seconds
        delay = 0.1
        retried = False
        while True:
            try:
                job = self.store.finish(ctx.claim, time.time(), **kwargs)
                break
            except StoreUnavailable as exc:
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


def stored_keys(outputs: list[Output]) -> list[str]:
    """Every file the outputs keep in the storage: each output and its thumbnail."""
    return [key for o in outputs for key in (o.key, o.thumbnail) if key is not None]


def is_out_of_memory(exc: BaseException) -> bool:
    """Host or accelerator memory ran out (torch's CUDA error without importing torch)."""
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or "out of memory" in str(exc).lower()
    )


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
    logging.basicConfig(
        level=os.environ.get("GENQ_LOG_LEVEL", "WARNING"),
        format=f"%(asctime)s {worker_id} %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.model_validate(settings_data)
    worker = Worker(settings, worker_id, conn=conn, models=models)
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
