"""``noop``: a model that does nothing, slowly if asked. For tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from genq.models.base import Model, Price, RunContext, Usage


class Noop(Model):
    name = "noop"
    description = "Does nothing: sleeps, reports progress, optionally fails or writes a text file."
    modality = "text"
    price = Price(per_job=0.0001)
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "sleep_ms": {
                "type": "integer",
                "title": "Sleep (ms)",
                "description": "Total time to spend, spread over the steps.",
                "default": 0,
                "minimum": 0,
                "maximum": 600_000,
                "x-playground": {"widget": "slider", "step": 100},
            },
            "steps": {
                "type": "integer",
                "title": "Steps",
                "description": "Progress events to report.",
                "default": 0,
                "minimum": 0,
                "maximum": 10_000,
                "x-playground": {"widget": "number"},
            },
            "fail": {
                "type": "string",
                "title": "Fail with",
                "description": "If set, the job fails with this message after sleeping.",
                "maxLength": 2000,
                "x-playground": {"widget": "text"},
            },
            "output_text": {
                "type": "string",
                "title": "Output text",
                "description": "If set, the job outputs a text file with this content.",
                "maxLength": 65_536,
                "x-playground": {"widget": "textarea", "rows": 3},
            },
            "ignore_cancel": {
                "type": "boolean",
                "title": "Ignore cancel",
                "description": "Keep running when asked to stop (tests the forced stop).",
                "default": False,
                "x-playground": {"widget": "checkbox", "advanced": True},
            },
        },
    }

    def usage(self, input: dict[str, Any]) -> Usage:
        return Usage(outputs=1 if input.get("output_text") is not None else 0)

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        steps = input.get("steps", 0)
        seconds = input.get("sleep_ms", 0) / 1000
        if steps:
            for step in range(steps):
                self._pause(seconds / steps, ctx, input)
                ctx.progress(step + 1, steps)
        elif seconds:
            self._pause(seconds, ctx, input)
        if input.get("fail"):
            raise RuntimeError(input["fail"])
        if input.get("output_text") is not None:
            path = ctx.work_dir / "output.txt"
            path.write_text(input["output_text"], encoding="utf-8")
            ctx.add_output(path, "text/plain; charset=utf-8")

    @staticmethod
    def _pause(seconds: float, ctx: RunContext, input: dict[str, Any]) -> None:
        """Sleep in small slices so that a stop request is seen within 20 ms."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not input.get("ignore_cancel"):
                ctx.check_stop()
            time.sleep(min(left, 0.02))
        if not input.get("ignore_cancel"):
            ctx.check_stop()
