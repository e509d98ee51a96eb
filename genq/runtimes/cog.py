"""The Cog runtime: a Cog model folder (``cog.yaml`` and a predictor written with the ``cog``
package), served unchanged.

    [models.resize]
    runtime = "cog"
    path = "models/resize"                # the folder with cog.yaml (relative: to genq's cwd)
    predictor = "predict.py:Predictor"    # optional: else cog.yaml's run or predict key
    modality = "image"                    # optional: "text" for str outputs, else "none"
    weights = "/weights/resize.safetensors"   # optional: setup(weights=...), else $COG_WEIGHTS
    memory_gb = 4                         # optional: else the folder's weight files

The input schema comes from the predictor's ``Input(...)`` annotations, read by Cog's own
inspector in a short-lived child process when genq loads its config: the API process never
imports the model's code (nor torch with it), and a model whose imports are missing on this
machine is listed as unavailable, naming them. Only the worker imports the predictor, with
Cog's own loader and the model folder first on ``sys.path``, and calls ``setup()`` once.

Each job's input is checked twice: against the schema when it is submitted, and by Cog's own
``check_input`` in the worker, which fills its defaults (a refusal fails the job with
``invalid_input``, naming the field). ``Path`` and ``File`` inputs take ``http(s)://`` URLs
and ``data:`` URIs only; genq fetches them itself, within the operator's limits and refusing
private addresses unless allowed (``RunContext.fetch_file``), never through Cog's download.

What the predictor returns becomes the job's outputs: a ``Path`` a file (its type from its
suffix), a ``str`` a text file, a list one output per item; any other value (a dict, a number,
a ``cog.BaseModel``) one JSON file, in which a ``Path`` becomes its own output, named by its
file name. An iterator's items come as they are made: a ``str`` streamed as text (the job's
text output is all of them joined), a ``Path`` an output at once, any other value a
``partial`` event (and the JSON list of them an output); each item counts as progress, and a
cancel ends the job at the next item. Anything else is canceled by the worker's grace kill.
What the predictor prints becomes the job's log (a tqdm bar: its progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import enum
import functools
import gc
import inspect
import io
import json
import logging
import math
import mimetypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, ClassVar, TextIO

from pydantic import Field

from genq.errors import ConfigError
from genq.models.base import InputError, Model, ModelOptions, RunContext, Stopped
from genq.runtimes import cog_schema
from genq.runtimes.cog_schema import quiet_deprecations, run_method
from genq.runtimes.device import folder_weight_bytes, module_bytes

log = logging.getLogger("genq.worker")

GIB = 1024**3
#: How long reading a predictor's inputs may take: its module's imports (torch, ...) included.
INSPECT_TIMEOUT_SECONDS = 180.0
#: A tqdm progress bar's count: ``" 40%|####      | 4/10 [00:01<00:02, 2.00it/s]"``.
_TQDM_COUNT = re.compile(r"(\d+)/(\d+) \[")
#: The most of one unfinished printed line kept.
_LINE_LIMIT = 64 * 1024


class CogOptions(ModelOptions):
    #: The model folder (the one with ``cog.yaml``), relative to the folder genq runs in.
    path: str = Field(min_length=1)
    #: ``file.py:Class`` (or ``file.py``: its ``Runner`` or ``Predictor``), in that folder;
    #: none: ``cog.yaml``'s ``run`` or ``predict`` key.
    predictor: str | None = Field(default=None, pattern=r"^[\w./-]+\.py(:\w+)?$")
    #: None: ``text`` for a predictor that returns strings, else ``none``.
    modality: str | None = None
    #: What ``setup(weights=...)`` gets, for a setup that takes it; none: ``$COG_WEIGHTS``.
    weights: str | None = None
    #: Memory the loaded model holds, for the worker's memory budget; none: measured.
    memory_gb: float | None = Field(default=None, ge=0)


class CogModel(Model):
    Options: ClassVar[type[CogOptions]] = CogOptions
    options: CogOptions
    requires = ("cog", "coglet")
    extra = "cog"

    def __init__(self, options: CogOptions | None = None) -> None:
        if options is None:
            raise TypeError("a Cog model needs its options (path)")
        super().__init__(options)
        self.folder = Path(options.path).resolve()
        self.ref = options.predictor or ""
        #: The JSON Schema of what the predictor returns, as Cog's ``openapi.json`` has it.
        self.output_schema: dict[str, Any] = {"title": "Output"}
        self._loaded: _Loaded | None = None
        self.declare(
            modality=options.modality or "none",
            description=f"The Cog model in {options.path}",
            input_schema={"type": "object"},
        )
        if self.missing_requirements():
            return  # listed as unavailable, naming the extra
        self.ref = options.predictor or predictor_ref(self.folder)
        found = inspect_predictor(self.folder, self.ref)
        if "missing" in found:
            # The model's own packages are not installed here: unavailable, naming them.
            self.declare(requires=(*self.requires, found["missing"]), extra=None)
            return
        self.output_schema = found["output_schema"]
        self.declare(
            modality=options.modality or found["modality"],
            description=found["description"] or self.description,
            input_schema=found["input_schema"],
        )

    def setup(self) -> None:
        self._loaded = _load(self.folder, self.ref, self.options.weights)

    def teardown(self) -> None:
        loaded, self._loaded = self._loaded, None
        if loaded is not None:
            loaded.close()
        gc.collect()

    def memory_bytes(self) -> int:
        if self.options.memory_gb is not None:
            return int(self.options.memory_gb * GIB)
        if self._loaded is not None and "torch" in sys.modules:
            held = module_bytes(_attributes(self._loaded.predictor))
            if held:
                return held
        return folder_weight_bytes(str(self.folder))

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        if self._loaded is None:
            self.setup()
        assert self._loaded is not None
        loaded = self._loaded
        opened: list[io.IOBase] = []
        try:
            kwargs = _arguments(loaded.info, input, ctx, opened)
            outputs = _Outputs(ctx, self.folder, loaded.returns_paths)
            with _printed_lines(ctx.log, ctx.progress):
                made = loaded.run(**kwargs)
                if inspect.isawaitable(made):
                    made = loaded.loop.run_until_complete(made)
                if _is_stream(made):
                    _stream(made, loaded, outputs, ctx)
                else:
                    outputs.add(made)
        finally:
            for file in opened:
                file.close()


# -- the model folder ------------------------------------------------------------------------
def predictor_ref(folder: Path) -> str:
    """The ``file.py:Class`` that ``cog.yaml`` in ``folder`` names (``run``, else ``predict``)."""
    import yaml

    config = folder / "cog.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read {config} ({exc}): a Cog model needs one, or predictor = 'file.py:Class'"
        ) from None
    for key in ("run", "predict"):
        ref = data.get(key) if isinstance(data, dict) else None
        if isinstance(ref, str) and ref:
            return ref
    raise ConfigError(f"{config} has no predict key: set predictor = 'file.py:Class'")


def inspect_predictor(folder: Path, ref: str) -> dict[str, Any]:
    """What ``cog_schema.describe`` tells of the predictor, found in a child process: the
    predictor's module and its imports never load into this one. Asked again in this
    process, with the folder's Python files as they were, the answer is remembered."""
    return copy.deepcopy(_inspected(folder, ref, _python_files(folder)))


def _python_files(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The name, time and size of each Python file of the model folder (not in subfolders)."""
    found = []
    for path in sorted(folder.glob("*.py")):
        with contextlib.suppress(OSError):
            stat = path.stat()
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


# The child loads cog_schema by its file's location: ``-m`` would import genq's package, and
# the client with it, for nothing.
_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("genq_cog_schema", sys.argv[1])
module = sys.modules["genq_cog_schema"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.main(sys.argv[2], sys.argv[3])
"""


@functools.cache
def _inspected(
    folder: Path, ref: str, python_files: tuple[tuple[str, int, int], ...]
) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, cog_schema.__file__, str(folder), ref],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot read the Cog predictor {ref} in {folder}: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise ConfigError(f"cannot read the Cog predictor {ref} in {folder}: {reason}")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


# -- loading, in the worker ------------------------------------------------------------------
@dataclass
class _Loaded:
    """A predictor set up in this process, and what Cog's inspector read from it."""

    predictor: Any
    run: Callable[..., Any]
    info: Any
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop its coroutines and async iterators run on, made on first use: one
        for the model's life, as what an async ``setup`` makes may be bound to it."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()

    @property
    def returns_paths(self) -> bool:
        """Whether a ``str`` it returns names a file (its output type is ``Path``)."""
        returns = self.info.output.type
        return returns is not None and returns.name in ("PATH", "FILE")


def _load(folder: Path, ref: str, weights: str | None) -> _Loaded:
    """Load the predictor with Cog's own loader and set it up."""
    from cog._inspector import create_predictor
    from cog.predictor import has_setup_weights, load_predictor_from_ref

    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    file, _, name = ref.partition(":")
    module_name = Path(file).stem
    with quiet_deprecations():
        predictor = load_predictor_from_ref(f"{folder / file}{':' + name if name else ''}")
        target = predictor if inspect.isfunction(predictor) else type(predictor)
        # Read now, while sys.modules holds this folder's module under that name.
        info = create_predictor(module_name, target.__name__)
    run = run_method(target)
    if target is not predictor:
        run = getattr(predictor, run.__name__)  # the instance's own, bound
    loaded = _Loaded(predictor, run, info)
    setup = getattr(predictor, "setup", None)
    if not inspect.isfunction(predictor) and callable(setup):
        with _printed_lines(lambda line: log.info("setup: %s", line)):
            kwargs = {"weights": _weights(weights)} if has_setup_weights(predictor) else {}
            done = setup(**kwargs)
            if inspect.isawaitable(done):
                loaded.loop.run_until_complete(done)
    return loaded


def _weights(configured: str | None) -> Any:
    """What ``setup(weights=...)`` gets: as Cog gives it, ``$COG_WEIGHTS`` unless configured;
    a local file or folder as a ``cog.Path``."""
    from cog import Path as CogPath

    weights = configured or os.environ.get("COG_WEIGHTS")
    if weights and Path(weights).exists():
        return CogPath(weights)
    return weights or None


def _attributes(predictor: Any) -> list[Any]:
    """The predictor's attributes, and the components of those that have some (a diffusers
    pipeline's): where its torch modules are."""
    found = list(vars(predictor).values()) if hasattr(predictor, "__dict__") else []
    for value in list(found):
        components = getattr(value, "components", None)
        if isinstance(components, dict):
            found.extend(components.values())
    return found


# -- inputs ----------------------------------------------------------------------------------
def _arguments(
    info: Any, input: dict[str, Any], ctx: RunContext, opened: list[io.IOBase]
) -> dict[str, Any]:
    """The predictor's keyword arguments: file inputs fetched into the job's folder, then
    checked and defaulted by Cog's own ``check_input``."""
    from cog._inspector import check_input

    values: dict[str, Any] = {}
    for name, value in input.items():
        spec = info.inputs.get(name)
        if spec is None:
            ctx.log(f"unknown input field ignored: {name}")  # as Cog does
            continue
        primitive = spec.type.primitive.name
        if primitive in ("PATH", "FILE") and value is not None:
            refs = value if isinstance(value, list) else [value]
            files = [_local_file(ref, name, primitive == "FILE", ctx, opened) for ref in refs]
            value = files if isinstance(value, list) else files[0]
        values[name] = value
    try:
        return check_input(info.inputs, values)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from None


def _local_file(
    ref: Any, name: str, as_file: bool, ctx: RunContext, opened: list[io.IOBase]
) -> Any:
    """A ``Path`` input's URL or ``data:`` URI as a ``cog.Path`` to the fetched file; a
    ``File`` input's as the file, open (closed after the job)."""
    from cog import Path as CogPath

    if not isinstance(ref, str):
        return ref  # Cog's check refuses it
    try:
        path = ctx.fetch_file(ref)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    if not as_file:
        return CogPath(path)
    file = path.open("rb")
    opened.append(file)
    return file


# -- outputs ---------------------------------------------------------------------------------
class _Outputs:
    """Turns what a predictor returns or yields into the job's outputs."""

    def __init__(self, ctx: RunContext, model_folder: Path, returns_paths: bool) -> None:
        self.ctx = ctx
        self.model_folder = model_folder
        self.returns_paths = returns_paths
        self.count = 0

    def add(self, value: Any) -> None:
        """A returned value: a file, a text, one output per item of a list of those, else JSON."""
        if value is None:
            return
        if isinstance(value, list | tuple) and all(self._is_output(v) for v in value):
            for item in value:
                self.add(item)
        elif self.is_file(value):
            self.file(value)
        elif isinstance(value, str):
            self.text(value)
        else:
            self.json(self.jsonable(value))

    def _is_output(self, value: Any) -> bool:
        return isinstance(value, str) or self.is_file(value)

    def is_file(self, value: Any) -> bool:
        """Whether ``value`` is a file the predictor made (or, for a ``Path`` output, names)."""
        if isinstance(value, str):
            return self.returns_paths
        return isinstance(value, PurePath | io.IOBase)

    def file(self, value: Any) -> str:
        """Add a returned file as an output; returns its name."""
        folder = self._folder()
        if isinstance(value, io.IOBase):  # Cog's File: a file object
            path = folder / Path(str(getattr(value, "name", "") or "output")).name
            with path.open("wb") as out:
                shutil.copyfileobj(value, out)
        else:
            path = self._own(Path(value).absolute(), folder)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        width = height = None
        if content_type.startswith("image/"):
            with contextlib.suppress(Exception):
                from PIL import Image

                with Image.open(path) as image:  # reads the header only
                    width, height = image.size
        self.ctx.add_output(path, content_type, width=width, height=height)
        return path.name

    def _own(self, path: Path, folder: Path) -> Path:
        """The job's own copy of a returned file, in its folder (removed after the job): one
        in the temporary folder is moved there (predictors write their outputs there, and
        nobody else would remove them), any other copied."""
        if not path.is_file():
            raise ValueError(f"the predictor returned {path}, which is not a file")
        target = folder / path.name
        resolved = path.resolve()
        temporary = resolved.is_relative_to(Path(tempfile.gettempdir()).resolve())
        if temporary and not resolved.is_relative_to(self.model_folder):
            shutil.move(resolved, target)
        else:
            shutil.copyfile(resolved, target)
        return target

    def text(self, text: str) -> None:
        path = self._folder() / "output.txt"
        path.write_text(text, encoding="utf-8")
        self.ctx.add_output(path, "text/plain; charset=utf-8")

    def json(self, value: Any) -> None:
        path = self._folder() / "output.json"
        path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        self.ctx.add_output(path, "application/json")

    def jsonable(self, value: Any) -> Any:
        """``value`` as JSON; each file in it added as an output, and named by its name."""
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, PurePath | io.IOBase):
            return self.file(value)
        if isinstance(value, dict):
            return {str(k): self.jsonable(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.jsonable(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):  # cog.BaseModel
            return {
                f.name: self.jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
            }
        if callable(getattr(value, "model_dump", None)):  # a Pydantic model
            return self.jsonable(value.model_dump())
        if isinstance(value, enum.Enum):
            return self.jsonable(value.value)
        if callable(getattr(value, "tolist", None)):  # a NumPy array or number
            return self.jsonable(value.tolist())
        raise TypeError(f"the predictor returned a {type(value).__name__}, which is not JSON")

    def _folder(self) -> Path:
        """A folder of its own for the next output, so that no two outputs share a name."""
        folder = self.ctx.work_dir / f"output-{self.count}"
        self.count += 1
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _is_stream(value: Any) -> bool:
    if isinstance(value, str | bytes | list | tuple | dict | PurePath | io.IOBase):
        return False
    return hasattr(value, "__next__") or hasattr(value, "__anext__")


def _stream(items: Any, loaded: _Loaded, outputs: _Outputs, ctx: RunContext) -> None:
    """Take an iterator's items as they come; end early, canceled, when the job is stopped."""
    texts: list[str] = []
    values: list[Any] = []
    count = 0
    asynchronous = hasattr(items, "__anext__")
    loop = loaded.loop if asynchronous else None
    try:
        while True:
            try:
                item = loop.run_until_complete(items.__anext__()) if loop else next(items)
            except (StopIteration, StopAsyncIteration):
                break
            count += 1
            if isinstance(item, str) and not outputs.returns_paths:
                ctx.text(item)
                texts.append(item)
            elif outputs.is_file(item):
                outputs.file(item)
            else:
                value = outputs.jsonable(item)
                ctx.partial(value)
                values.append(value)
            ctx.progress(count, 0, f"{count} item{'s' if count > 1 else ''}")
            if ctx.stop_requested:
                raise Stopped()
    finally:
        # The predictor's own clean-up (its finally blocks) runs now, not at some later GC.
        if loop is not None:
            closing = getattr(items, "aclose", None)
            if closing is not None:
                loop.run_until_complete(closing())
        elif callable(getattr(items, "close", None)):
            items.close()
    if texts:
        outputs.text("".join(texts))
    if values:
        outputs.json(values)


# -- what the predictor prints ---------------------------------------------------------------
class _Lines(io.TextIOBase):
    """Stands in for ``sys.stdout`` or ``sys.stderr``: what one thread writes becomes lines
    for ``line`` (a line redrawn with carriage returns: its last state), and tqdm's counts
    progress; what other threads write goes where it went before."""

    def __init__(
        self,
        original: TextIO,
        line: Callable[[str], None],
        progress: Callable[[int, int], None] | None,
    ) -> None:
        super().__init__()
        self.original = original
        self.thread = threading.get_ident()
        self.line = line
        self.progress = progress
        self.pending = ""
        #: The last tqdm count reported: a bar drawn again reports nothing new.
        self.counted = (-1, -1)

    def write(self, text: str) -> int:
        if threading.get_ident() != self.thread:
            return self.original.write(text)
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self._emit(line)
        if "\r" in self.pending:
            # Redrawn: only what is drawn last shows.
            self.pending = self.pending.rsplit("\r", 1)[-1]
            self._count(self.pending)
        self.pending = self.pending[-_LINE_LIMIT:]
        return len(text)

    def _emit(self, line: str) -> None:
        shown = line.rsplit("\r", 1)[-1].rstrip()
        if shown.strip():
            self._count(shown)
            self.line(shown)

    def _count(self, state: str) -> None:
        found = _TQDM_COUNT.search(state)
        if found and self.progress is not None:
            count = int(found[1]), int(found[2])
            if count[0] <= count[1] and count != self.counted:
                self.counted = count
                self.progress(*count)

    def finish(self) -> None:
        if self.pending:
            self._emit(self.pending)
        self.pending = ""

    def flush(self) -> None:
        if threading.get_ident() != self.thread:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


@contextlib.contextmanager
def _printed_lines(
    line: Callable[[str], None], progress: Callable[[int, int], None] | None = None
) -> Iterator[None]:
    """What this thread prints meanwhile, as lines for ``line`` (and tqdm bars as progress)."""
    stdout, stderr = sys.stdout, sys.stderr
    out, err = _Lines(stdout, line, progress), _Lines(stderr, line, progress)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        out.finish()
        err.finish()
