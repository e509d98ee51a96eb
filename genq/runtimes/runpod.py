"""The RunPod runtime: a RunPod serverless handler file, served unchanged.

    [models.words]
    runtime = "runpod"
    handler = "handlers/words.py"      # the file that calls runpod.serverless.start(...)
    modality = "text"                  # optional
    input_schema = { ... }             # optional JSON Schema; default: any object

A worker runs the file once, as ``python handler.py`` would (its folder first on
``sys.path``, ``__name__`` set to ``"__main__"``): its module-level code is the model's
setup. While it runs, ``runpod.serverless.start`` only keeps the config it is given, so
RunPod's own worker loop never starts. The API process never runs the file (nor needs it):
the input schema comes from the table.

Each job calls the config's ``handler`` with ``{"id": job_id, "input": input}``, as RunPod
does: a function or a coroutine function (awaited on an event loop of the model's own), or
a generator or async generator, each item of which is streamed as a ``partial`` event
(and, with ``return_aggregate_stream``, the list of them is the job's output). What the
handler returns is the job's one output, as JSON (``application/json``); ``None``, ``{}``
and a generator without ``return_aggregate_stream`` leave none. A returned or yielded
``{"error": ...}``, or an exception, fails the job (``model_error``) with that message.

``runpod.serverless.progress_update(job, value)`` is the job's progress: a number is a
percentage, anything else the progress message. A cancel ends the job at the handler's next
yield or ``progress_update``, else the worker is killed after the cancel grace period.
``refresh_worker`` (in the config, or a key of a returned dict) unloads the handler after the
job: the file runs again before the next one. ``concurrency_modifier`` is not used: a worker
process runs one job at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import math
import runpy
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import Field

from genq.models.base import Model, ModelOptions, RunContext

log = logging.getLogger("genq.worker")

GIB = 1024**3
#: The JSON a handler's output is written as: RunPod's worker writes its ``json.dumps``,
#: which makes a string of each non-string key.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class RunPodOptions(ModelOptions):
    #: The handler file, relative to the folder the worker runs in.
    handler: str = Field(min_length=1)
    modality: str = "none"
    input_schema: dict[str, Any] | None = None
    #: Memory the loaded handler holds, for the worker's memory budget; none: 0.
    memory_gb: float | None = Field(default=None, ge=0)


class HandlerError(Exception):
    """The handler reported a failure: it returned or yielded ``{"error": ...}``."""


@dataclass
class _Loaded:
    """A handler file run in this process, and what it gave ``start``."""

    handler: Callable[[dict[str, Any]], Any]
    config: dict[str, Any]
    folder: str
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)


class RunPodModel(Model):
    Options: ClassVar[type[RunPodOptions]] = RunPodOptions
    options: RunPodOptions
    requires = ("runpod",)
    extra = "runpod"

    def __init__(self, options: RunPodOptions | None = None) -> None:
        if options is None:
            raise TypeError("a RunPod model needs its options (handler)")
        super().__init__(options)
        self.declare(
            modality=options.modality,
            description=f"RunPod handler {options.handler}",
            input_schema=options.input_schema or {"type": "object"},
        )
        self._loaded: _Loaded | None = None

    def setup(self) -> None:
        self._loaded = _load(Path(self.options.handler))

    def teardown(self) -> None:
        loaded, self._loaded = self._loaded, None
        if loaded is not None:
            _close_loop(loaded.loop)
            _PATCHES.release(loaded.folder)

    def memory_bytes(self) -> int:
        return int((self.options.memory_gb or 0) * GIB)

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        if self._loaded is None:  # unloaded after the last job, at the handler's word
            self.setup()
        assert self._loaded is not None
        loaded = self._loaded
        refresh = bool(loaded.config.get("refresh_worker"))
        job = {"id": ctx.job_id, "input": input}
        _PATCHES.started(ctx)
        try:
            made = loaded.handler(job)
            if inspect.isgenerator(made) or inspect.isasyncgen(made):
                output = _stream(made, loaded, ctx)
            else:
                if inspect.isawaitable(made):
                    made = loaded.loop.run_until_complete(made)
                output, asked = _returned(made)
                refresh = refresh or asked
        finally:
            _PATCHES.ended(ctx.job_id)
            if refresh:
                log.info("refresh_worker: the handler runs again before the next job")
                self.teardown()
                gc.collect()
        if output is not None:
            _add_json_output(output, ctx)


def _load(path: Path) -> _Loaded:
    """Run the handler file, with ``runpod.serverless.start`` keeping its config."""
    import runpod.serverless as serverless

    if not path.is_file():
        raise FileNotFoundError(f"no handler file {path} (in {Path.cwd()})")
    folder = str(path.resolve().parent)
    given: list[Any] = []

    def start(config: Any) -> None:
        # RunPod's start never returns; the first call is the one it would serve.
        if not given:
            given.append(config)

    _PATCHES.acquire(folder)
    real_start = serverless.start
    serverless.start = start
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        _PATCHES.release(folder)
        raise RuntimeError(f"{path} exited ({exc.code!r}) while it was loaded") from None
    except BaseException:
        _PATCHES.release(folder)
        raise
    finally:
        serverless.start = real_start
    config = given[0] if given else None
    if not isinstance(config, dict) or not callable(config.get("handler")):
        _PATCHES.release(folder)
        if config is None:
            raise RuntimeError(f"{path} did not call runpod.serverless.start(...)")
        raise TypeError(f"{path} called start() without a callable 'handler' in its config")
    if config.get("concurrency_modifier") is not None:
        log.info("%s: concurrency_modifier is not used (one job at a time per worker)", path)
    return _Loaded(config["handler"], config, folder)


def _returned(value: Any) -> tuple[Any, bool]:
    """The output a non-generator handler's return value makes, read as RunPod's worker reads
    it, and whether it asked for ``refresh_worker``; raises ``HandlerError`` for an error."""
    if not isinstance(value, dict):
        return value, False
    output = dict(value)
    error = output.pop("error", None)
    refresh = bool(output.pop("refresh_worker", None))
    if error:
        raise HandlerError(_message(error))
    return output or None, refresh


_END = object()


async def _next(items: Any) -> Any:
    try:
        return await anext(items)
    except StopAsyncIteration:
        return _END


def _stream(items: Any, loaded: _Loaded, ctx: RunContext) -> list[Any] | None:
    """Stream a generator's items; the list of them when the config asks for it."""
    aggregate = bool(loaded.config.get("return_aggregate_stream"))
    collected: list[Any] = []
    take: Callable[[], Any]
    close: Callable[[], Any]
    if inspect.isasyncgen(items):
        take = lambda: loaded.loop.run_until_complete(_next(items))  # noqa: E731
        close = lambda: loaded.loop.run_until_complete(items.aclose())  # noqa: E731
    else:
        take, close = lambda: next(items, _END), items.close
    try:
        while (item := take()) is not _END:
            if isinstance(item, dict) and item.get("error"):
                raise HandlerError(_message(item["error"]))
            ctx.partial(item)
            if aggregate:
                collected.append(item)
            ctx.check_stop()
    finally:
        try:
            close()  # runs the handler's own finally blocks after a cancel or an error
        except Exception as exc:
            log.warning("job %s: closing the handler's generator failed: %r", ctx.job_id, exc)
    return collected if aggregate else None


def _message(error: Any) -> str:
    return error if isinstance(error, str) else _json_text(error)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()


def _add_json_output(output: Any, ctx: RunContext) -> None:
    try:
        data = orjson.dumps(output, option=_JSON_OPTIONS)
    except TypeError as exc:
        raise TypeError(f"the handler's output is not JSON: {exc}") from None
    path = ctx.work_dir / "output.json"
    path.write_bytes(data)
    ctx.add_output(path, "application/json")


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """End what the handler left running on its event loop, then close the loop."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    with contextlib.suppress(Exception):
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@dataclass
class _Running:
    """A job a handler runs, as ``progress_update`` finds it."""

    ctx: RunContext
    #: The thread that runs the handler: a stop is raised there alone.
    thread: int
    percent: int = 0

    def report(self, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            self.percent = round(min(max(value, 0), 100))
            self.ctx.progress(self.percent, 100)
        else:
            text = value if isinstance(value, str) else _json_text(value)
            self.ctx.progress(self.percent, 100, text)
        if threading.get_ident() == self.thread:
            self.ctx.check_stop()


class _Patches:
    """RunPod's ``progress_update``, replaced while a handler is loaded in this process (and
    the handler's folder on ``sys.path``): it reports to genq and never posts anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._folders: Counter[str] = Counter()
        #: The folders put on ``sys.path`` here (not those that were on it already).
        self._added: set[str] = set()
        self._originals: dict[Any, Any] = {}
        self._jobs: dict[str, _Running] = {}

    def acquire(self, folder: str) -> None:
        from runpod import serverless
        from runpod.serverless.modules import rp_progress

        with self._lock:
            if self._users == 0:
                for module in (serverless, rp_progress):
                    self._originals[module] = module.progress_update
                    module.progress_update = progress_update
            self._users += 1
            if self._folders[folder] == 0 and folder not in sys.path:
                sys.path.insert(0, folder)
                self._added.add(folder)
            self._folders[folder] += 1

    def release(self, folder: str) -> None:
        with self._lock:
            self._folders[folder] -= 1
            if self._folders[folder] == 0:
                del self._folders[folder]
                if folder in self._added:
                    self._added.discard(folder)
                    with contextlib.suppress(ValueError):
                        sys.path.remove(folder)
            self._users -= 1
            if self._users == 0:
                for module, original in self._originals.items():
                    module.progress_update = original
                self._originals.clear()

    def started(self, ctx: RunContext) -> None:
        with self._lock:
            self._jobs[ctx.job_id] = _Running(ctx, threading.get_ident())

    def ended(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def running(self, job: Any) -> _Running | None:
        job_id = job.get("id") if isinstance(job, dict) else None
        with self._lock:
            return self._jobs.get(job_id) if isinstance(job_id, str) else None


_PATCHES = _Patches()


def progress_update(job: dict[str, Any], progress: Any) -> None:
    """``runpod.serverless.progress_update`` as a loaded handler sees it: the progress of
    ``job`` while it runs (a number: a percentage; anything else: the message); after its
    end, nothing."""
    running = _PATCHES.running(job)
    if running is None:
        log.debug("a progress update for no running job was dropped")
        return
    running.report(progress)
