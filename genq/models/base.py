"""The model plug-in interface. Built-in demo models use it exactly as users' own models do.

A model is a class::

    class Echo(Model):
        name = "echo"
        description = "Writes its prompt to a text file."
        modality = "text"
        input_schema = {"type": "object", "properties": {"prompt": {"type": "string"}}}
        price = Price(per_job=0.001)

        def setup(self) -> None:           # once per worker process: load weights here
            ...

        def predict(self, input: dict, ctx: RunContext) -> None:
            for step in range(10):
                ctx.check_stop()            # ends the job as canceled when asked to stop
                ctx.progress(step + 1, 10)
            path = ctx.work_dir / "out.txt"
            path.write_text(input["prompt"])
            ctx.add_output(path, "text/plain")

Class attributes are read by the API process without calling ``setup``, so a model module
must import heavy libraries (torch, av, ...) inside ``setup`` or ``predict``, not at the top.
A model may set them per instance instead, in ``__init__``, from its ``Options`` (the keys of
its ``[models.NAME]`` table): that is how one runtime class serves many configured models.

A model that can run several jobs in one call returns a ``batch_key`` for each input (equal
keys: the jobs may share a call) and implements ``predict_batch``; the worker then hands it up
to ``max_batch`` (from the config) jobs at once.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import importlib.util
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from genq.credits import EXACT, Amount, credits_json, parse_credits, round_credits


def fill_defaults(schema: dict[str, Any], input: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``input`` with the schema's top-level defaults filled in.

    The registry applies it to every job; models call it too so that ``predict`` also works
    when called directly (tests, notebooks) with a partial input.
    """
    filled = dict(input)
    for key, spec in schema.get("properties", {}).items():
        if key not in filled and "default" in spec:
            filled[key] = copy.deepcopy(spec["default"])
    return filled


#: Largest reference file (image, audio) a job may name, unless the operator sets another.
DEFAULT_REFERENCE_MAX_BYTES = 20 * 1024 * 1024
#: Most pixels a reference image may have, unless the operator sets another number: 24 MP
#: camera photos pass; decoded as RGBA it takes at most 100 MB, for a moment, before it is
#: resized to the job's size. Checked from the image's header, before it is decoded.
DEFAULT_REFERENCE_MAX_PIXELS = 25_000_000

#: The JSON Schema ``format`` of a string input that names a reference image (fetched with
#: ``RunContext.fetch_image``): an ``http://`` or ``https://`` URL or a ``data:`` URI holding
#: a PNG, JPEG, WebP or GIF image. Such inputs are checked when the job is submitted (scheme,
#: form, data), so a job is not queued only to fail in the worker.
IMAGE_REFERENCE = "image-reference"

#: The JSON Schema ``format`` of a string input that names a reference sound (fetched with
#: ``RunContext.fetch_audio``): an ``http://`` or ``https://`` URL or a ``data:`` URI holding
#: WAV, FLAC, MP3, OGG, WebM or M4A audio, checked when the job is submitted as images are.
AUDIO_REFERENCE = "audio-reference"
#: Longest reference sound a model takes, unless its config sets ``max_audio_seconds``.
DEFAULT_MAX_AUDIO_SECONDS = 1800.0


class InputError(Exception):
    """Raised by a model for input the schema allowed but the model cannot use (job fails
    with code ``invalid_input``)."""


class Stopped(Exception):
    """Raised by ``RunContext.check_stop`` when the job was asked to stop."""


@dataclass(frozen=True, init=False)
class Price:
    """Cost of a job in credits: a flat part, a part per output file and a part per second of
    media. Each part is held exactly: given as a float (as TOML writes it), it is read by its
    decimal text, so ``per_job=0.0001`` is 0.0001 credits."""

    per_job: Decimal
    per_output: Decimal
    per_second: Decimal

    def __init__(self, per_job: Amount = 0, per_output: Amount = 0, per_second: Amount = 0) -> None:
        for name, value in (
            ("per_job", per_job),
            ("per_output", per_output),
            ("per_second", per_second),
        ):
            try:
                amount = parse_credits(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if amount < 0:
                raise ValueError(f"{name}: a price cannot be negative, got {value!r}")
            object.__setattr__(self, name, amount)

    def cost(self, outputs: int, media_seconds: float) -> Decimal:
        """``per_job + per_output * outputs + per_second * media_seconds``, computed exactly
        and rounded half up to the micro-credit."""
        seconds = parse_credits(media_seconds)
        with localcontext(EXACT):
            exact = self.per_job + self.per_output * outputs + self.per_second * seconds
        return round_credits(exact)

    def to_dict(self) -> dict[str, float]:
        return {
            "per_job": credits_json(self.per_job),
            "per_output": credits_json(self.per_output),
            "per_second": credits_json(self.per_second),
        }


@dataclass(frozen=True)
class Usage:
    """What a job produces, as far as pricing is concerned."""

    outputs: int = 1
    media_seconds: float = 0.0


class ModelOptions(BaseModel):
    """A model's own settings: the keys of its ``[models.NAME]`` table that are not common to
    every model. A model with settings declares a subclass as its ``Options``."""

    model_config = ConfigDict(extra="forbid")


class RunContext(abc.ABC):
    """What a running model may do with its job."""

    job_id: str

    @property
    @abc.abstractmethod
    def work_dir(self) -> Path:
        """An empty folder for this run, made on first use; removed after the job ends."""

    @abc.abstractmethod
    def progress(self, step: int, total: int, message: str | None = None) -> None:
        """Report progress; cheap to call every step (the worker throttles what it stores)."""

    @abc.abstractmethod
    def log(self, message: str) -> None:
        """Add a line to the job's event stream."""

    def text(self, delta: str) -> None:  # noqa: B027 - optional, dropped by default
        """Stream a piece of generated text (a token or a few) to the job's event stream."""

    def partial(self, value: Any) -> None:  # noqa: B027 - optional, dropped by default
        """Stream one JSON value (what a generator yields) to the job's event stream, as a
        ``partial`` event, in order; one over 256 KiB as JSON is dropped with a log line."""

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` after the model call, on another thread, before the job's outputs are
        stored: encoding and writing files there lets the worker start its next model call
        at once. ``work`` may call ``add_output``; if it raises, the job fails."""
        work()

    def fetch_image(
        self,
        ref: str,
        *,
        size: tuple[int, int] | Callable[[int, int], tuple[int, int]] | None = None,
    ) -> Any:
        """A reference image given by URL or ``data:`` URI, as an upright RGB or RGBA PIL
        image, fetched within the operator's limits (bytes, pixels, type, no private
        addresses unless allowed); refusals raise ``InputError``.

        ``size`` resizes it to exactly that (width, height); it may be a function that gives
        them from the image's own width and height, called before the image is decoded. A
        model should pass the size it will work at: a reference then never takes more memory
        than the model's own largest job, and a large JPEG is decoded at a reduced scale."""
        from genq.media.fetch import fetch_image

        return fetch_image(
            ref,
            max_bytes=DEFAULT_REFERENCE_MAX_BYTES,
            max_pixels=DEFAULT_REFERENCE_MAX_PIXELS,
            size=size,
        )

    def fetch_audio(
        self, ref: str, *, sample_rate: int, max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS
    ) -> Any:
        """A reference sound given by URL or ``data:`` URI (WAV, FLAC, MP3, AAC, OGG, WebM or
        M4A), as a numpy array of float32 samples in [-1, 1], one channel (the mean of the
        sound's channels) at ``sample_rate``, fetched within the operator's limits (bytes,
        type, no private addresses unless allowed); refusals raise ``InputError``.

        A sound longer than ``max_seconds`` is refused, from its header before it is decoded
        and, as a header may lie, while it is decoded: no reference takes more memory than
        ``max_seconds`` of samples, so a model should pass the longest it takes."""
        from genq.media.fetch import fetch_audio

        return fetch_audio(
            ref,
            sample_rate=sample_rate,
            max_seconds=max_seconds,
            max_bytes=DEFAULT_REFERENCE_MAX_BYTES,
        )

    def fetch_file(self, ref: str) -> Path:
        """A file of any type given by URL or ``data:`` URI, saved in a new folder of
        ``work_dir`` under the name its URL gives it, fetched within the operator's limits
        (bytes, no private addresses unless allowed); refusals raise ``InputError``."""
        from genq.media.fetch import fetch_file

        folder = Path(tempfile.mkdtemp(prefix="fetched-", dir=self.work_dir))
        return fetch_file(ref, folder, max_bytes=DEFAULT_REFERENCE_MAX_BYTES)[0]

    @property
    @abc.abstractmethod
    def stop_requested(self) -> bool:
        """True once the job has been canceled; stop at the next step boundary."""

    def check_stop(self) -> None:
        """Raise ``Stopped`` if the job has been asked to stop."""
        if self.stop_requested:
            raise Stopped()

    @abc.abstractmethod
    def add_output(
        self,
        path: Path,
        content_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
    ) -> None:
        """Publish a result file (stored when the job succeeds)."""


class Model(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: image, video, audio, text or none: what the model makes.
    modality: ClassVar[str] = "none"
    #: What the model does, in Hugging Face's task names where one fits
    #: (``automatic-speech-recognition``, ``text-to-speech``, ``image-to-text``, ...); ""
    #: when not said. Vendor aliases such as ``openai/whisper`` find their model by it.
    task: ClassVar[str] = ""
    input_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    price: ClassVar[Price] = Price()
    #: Modules that must be importable for this model to run (checked without importing).
    requires: ClassVar[tuple[str, ...]] = ()
    #: The pip extra that provides ``requires``, named in the error when one is missing.
    extra: ClassVar[str | None] = None
    #: The model's own config keys; none by default.
    Options: ClassVar[type[ModelOptions]] = ModelOptions

    def __init__(self, options: ModelOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def declare(self, **attributes: Any) -> None:
        """Give this instance its own values of the class attributes above (``description``,
        ``modality``, ``task``, ``input_schema``, ``price``, ``requires``, ``extra``): a
        runtime class that serves many configured models calls it from ``__init__``."""
        unknown = set(attributes) - {
            "description",
            "modality",
            "task",
            "input_schema",
            "price",
            "requires",
            "extra",
        }
        if unknown:
            raise TypeError(f"not a model attribute: {', '.join(sorted(unknown))}")
        vars(self).update(attributes)

    def setup(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Load weights and warm up; called in a worker process before its first job (and
        again after ``teardown``)."""

    def teardown(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what ``setup`` loaded; the worker calls it to make room for another model."""

    def memory_bytes(self) -> int:
        """Memory the loaded model holds (before ``setup``: an estimate); 0 when unknown. The
        worker keeps the models it has loaded within its memory budget."""
        return 0

    @abc.abstractmethod
    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        """Run one job: report progress, check for stop, add outputs."""

    def batch_key(self, input: dict[str, Any]) -> str | None:
        """Jobs whose inputs have the same key may run in one ``predict_batch`` call; None
        (the default) runs this job alone. Computed when the job is submitted."""
        return None

    def predict_batch(self, inputs: list[dict[str, Any]], ctxs: list[RunContext]) -> None:
        """Run jobs with equal batch keys in one call; each has its own context for progress,
        stop and outputs. A job whose ``stop_requested`` has turned true is ended as canceled
        by the worker there and then; the call may go on for the others (whatever is added to
        the stopped job's context is dropped) and should raise ``Stopped`` once all of them
        were asked to stop. An ``InputError`` from a call of several jobs makes the worker run
        each of them again in a call of its own (through ``predict``), dropping what the first
        call added to their contexts, so that only a job whose input is at fault fails, with
        its own message; any other exception fails every job of the call.

        This default runs the jobs one after another."""
        for input, ctx in zip(inputs, ctxs, strict=True):
            if ctx.stop_requested:
                continue
            with contextlib.suppress(Stopped):
                self.predict(input, ctx)
        if all(ctx.stop_requested for ctx in ctxs):
            raise Stopped()

    def usage(self, input: dict[str, Any]) -> Usage:
        """The expected usage of a job, for its cost estimate."""
        count = input.get("num_images") or input.get("num_outputs") or 1
        duration = input.get("duration") or 0.0
        return Usage(outputs=int(count), media_seconds=float(duration))

    def missing_requirements(self) -> list[str]:
        return [name for name in self.requires if importlib.util.find_spec(name) is None]
