"""Plug-in models used by the tests, loaded through the config file like users' own models."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image
from pydantic import BaseModel, Field

from genq.models.base import Model, Price, RunContext, Usage


class Echo(Model):
    name = "echo"
    description = "Writes its prompt to a text file."
    modality = "text"
    price = Price(per_job=0.5)
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["prompt"],
        "properties": {"prompt": {"type": "string", "minLength": 1}},
    }

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        ctx.log(f"echoing {len(input['prompt'])} characters")
        path = ctx.work_dir / "echo.txt"
        path.write_text(input["prompt"])
        ctx.add_output(path, "text/plain")


class Listener(Model):
    """A speech-to-text stand-in: "transcribes" a sound by fetching it and writing its size,
    language and task; with timestamps, the segments, SRT and WebVTT files a real one adds."""

    name = "listener"
    description = "Writes what it heard: the sound's size in bytes."
    modality = "text"
    task = "automatic-speech-recognition"
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["audio"],
        "properties": {
            "audio": {"type": "string", "format": "audio-reference"},
            "language": {"type": "string", "default": "en"},
            "task": {"enum": ["transcribe", "translate"], "default": "transcribe"},
            "timestamps": {"enum": ["none", "segment", "word"], "default": "none"},
        },
    }

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        size = ctx.fetch_file(input["audio"]).stat().st_size
        words = f"heard {size} bytes ({input['language']}, {input['task']})"
        files = [("transcript.txt", words, "text/plain")]
        if input["timestamps"] != "none":
            segment = {"start": 0.0, "end": 1.0, "text": words}
            files += [
                ("segments.json", json.dumps([segment]), "application/json"),
                ("transcript.srt", f"1\n00:00:00,000 --> 00:00:01,000\n{words}\n", "text/srt"),
                ("transcript.vtt", f"WEBVTT\n\n00:00.000 --> 00:01.000\n{words}\n", "text/vtt"),
            ]
        for name, content, content_type in files:
            path = ctx.work_dir / name
            path.write_text(content)
            ctx.add_output(path, content_type)


class Loud(Model):
    """Writes NUL characters and a megabyte of text into everything a model may write."""

    name = "loud"
    modality = "text"
    input_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        # A lone surrogate, as str() of an undecodable file name holds one.
        noise = "\x00\udcff" + "x" * 1_000_000
        ctx.log("log" + noise)
        ctx.progress(1, 2, "progress" + noise)
        ctx.text("text\x00\udcff")
        raise RuntimeError("error" + noise)


class Faulty(Echo):
    """A model whose own code fails where genq calls it at submit time (pricing)."""

    name = "faulty"
    modality = "image"

    def usage(self, input: dict[str, Any]) -> Any:
        raise ZeroDivisionError("a bug in the model's usage()")


class Costly(Echo):
    """Priced by a duration its input may set to any number."""

    name = "costly"
    modality = "image"
    price = Price(per_second=1)
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"duration": {"type": "number", "minimum": 0}},
    }

    def usage(self, input: dict[str, Any]) -> Usage:
        return Usage(outputs=1, media_seconds=input.get("duration", 1))


class Broken(Echo):
    name = "broken"

    def setup(self) -> None:
        raise OSError("weights not found at /models/broken")


class NeedsMissingPackage(Echo):
    name = "needs-missing"
    requires = ("genq_no_such_package",)
    extra = "imaginary"


class Recorder(Model):
    """Writes its tag to a file and notes each run that reached the end in the file named by
    ``GENQ_TEST_RECORD`` (one line per run: job id and tag), so that tests can count runs."""

    name = "recorder"
    description = "Echoes a tag and records every completed run."
    modality = "text"
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["tag"],
        "properties": {
            "tag": {"type": "string", "minLength": 1},
            "sleep_ms": {"type": "integer", "minimum": 0, "default": 0},
        },
    }

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        deadline = time.monotonic() + input["sleep_ms"] / 1000
        while time.monotonic() < deadline:
            ctx.check_stop()
            time.sleep(0.005)
        path = ctx.work_dir / "tag.txt"
        path.write_text(input["tag"])
        ctx.add_output(path, "text/plain")
        # One short O_APPEND write per run: lines from concurrent workers never interleave.
        fd = os.open(os.environ["GENQ_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{ctx.job_id} {input['tag']}\n".encode())
        finally:
            os.close(fd)


# -- plain functions and classes, served through runtime = "python" ------------------------
class Swatch(BaseModel):
    """The input of ``swatch``: its JSON Schema becomes the model's input schema."""

    color: str = Field(pattern="^#[0-9a-f]{6}$")
    size: int = Field(default=8, ge=1, le=64)


def swatch(input: Swatch, ctx: RunContext) -> Image.Image:
    """A square of one colour."""
    ctx.progress(1, 1)
    return Image.new("RGB", (input.size, input.size), input.color)


class Shouter:
    """Upper-cases its text; loads its 'weights' (a suffix) in setup."""

    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string"}},
    }

    def __init__(self, suffix: str = "!") -> None:
        self.suffix = suffix
        self.loaded = False

    def setup(self) -> None:
        self.loaded = True

    def predict(self, input: dict[str, Any]) -> list[str]:
        assert self.loaded
        return [input["text"].upper() + self.suffix, input["text"]]


class Hungry(Model):
    """Runs out of memory in batches of more than two jobs; counts its load and unload."""

    name = "hungry"
    input_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    setups = 0
    teardowns = 0

    def setup(self) -> None:
        type(self).setups += 1

    def teardown(self) -> None:
        type(self).teardowns += 1

    def memory_bytes(self) -> int:
        return 600

    def batch_key(self, input: dict[str, Any]) -> str | None:
        return "all"

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        self.predict_batch([input], [ctx])

    def predict_batch(self, inputs: list[dict[str, Any]], ctxs: list[RunContext]) -> None:
        if len(inputs) > 2:
            raise MemoryError()
        for ctx in ctxs:
            path = ctx.work_dir / "out.txt"
            path.write_text(str(len(inputs)))
            ctx.add_output(path, "text/plain")


class Sated(Hungry):
    """Another model of the same size, to make the worker choose which to keep loaded."""


class SlowLoad(Model):
    """Takes ``LOAD_SECONDS`` to set up (as weights take to load), then echoes its ``tag``,
    after ``sleep_ms`` (stopping when asked); jobs of one model share a call when it batches."""

    name = "slow-load"
    modality = "text"
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "tag": {"type": "string", "default": ""},
            "sleep_ms": {"type": "integer", "minimum": 0, "default": 0},
        },
    }
    LOAD_SECONDS = 0.3

    def setup(self) -> None:
        time.sleep(self.LOAD_SECONDS)

    def batch_key(self, input: dict[str, Any]) -> str | None:
        return "all"

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        deadline = time.monotonic() + input["sleep_ms"] / 1000
        while time.monotonic() < deadline:
            ctx.check_stop()
            time.sleep(0.005)
        path = ctx.work_dir / "tag.txt"
        path.write_text(input["tag"])
        ctx.add_output(path, "text/plain")


class SlowBroken(SlowLoad):
    """Spends ``LOAD_SECONDS`` looking for its weights, then fails to load."""

    name = "slow-broken"

    def setup(self) -> None:
        super().setup()
        raise OSError("weights not found at /models/slow-broken")


class Flaky(Model):
    """Fails on its first ``failures`` attempts at a job (with a model error, or out of
    memory with ``oom``), then succeeds. Each attempt appends its start time to a file named
    after the job in the folder ``tally``, which the test reads."""

    name = "flaky"
    modality = "text"
    price = Price(per_job=0.0001)
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["tally"],
        "properties": {
            "tally": {"type": "string"},
            "failures": {"type": "integer", "minimum": 0, "default": 1},
            "oom": {"type": "boolean", "default": False},
        },
    }

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        tally = Path(input["tally"]) / ctx.job_id
        with tally.open("a") as f:
            f.write(f"{time.time()!r}\n")
        attempt = len(tally.read_text().splitlines())
        if attempt <= input["failures"]:
            if input["oom"]:
                raise MemoryError(f"attempt {attempt} ran out of memory")
            raise RuntimeError(f"attempt {attempt} failed")
