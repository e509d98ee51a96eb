"""Plug-in models used by the tests, loaded through the config file like users' own models."""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from genq.models.base import Model, Price, RunContext


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
