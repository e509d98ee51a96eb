"""Plug-in models used by the tests, loaded through the config file like users' own models."""

from __future__ import annotations

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
