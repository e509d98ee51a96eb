"""The Python runtime: a plain function or class of the user's, served as a model.

    [models.upscale]
    runtime = "python"
    callable = "my_models.upscale:run"        # a function, or a class with setup/predict
    modality = "image"
    settings = { scale = 2 }                   # keyword arguments for the class

The callable gets the job's input and, if it has a parameter named ``ctx``, the job's
``RunContext`` (progress, stop checks, logs, ``work_dir``, ``fetch_image``). The input is a
dict, or an instance of the Pydantic model its first parameter is annotated with; the input
schema comes from the config, else from that Pydantic model, else from an ``input_schema``
attribute of the callable (a JSON Schema dict or a Pydantic model class).

What it returns becomes the job's outputs: a PIL image (PNG), a ``Path`` to a file, a ``str``
(a text output), ``bytes`` (a binary file), or a list of these; None when the callable added
its outputs itself with ``ctx.add_output``. A model written against ``genq.models.base.Model``
needs none of this: name it with ``entrypoint = "module:Class"``.
"""

from __future__ import annotations

import inspect
import mimetypes
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from genq.errors import ConfigError
from genq.models.base import InputError, Model, ModelOptions, RunContext
from genq.models.registry import load_object


class PythonOptions(ModelOptions):
    callable: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    modality: str = "none"
    input_schema: dict[str, Any] | None = None
    #: Keyword arguments for the class (unused for a function).
    settings: dict[str, Any] = Field(default_factory=dict)


class PythonModel(Model):
    Options: ClassVar[type[PythonOptions]] = PythonOptions
    options: PythonOptions

    def __init__(self, options: PythonOptions | None = None) -> None:
        if options is None:
            raise TypeError("a Python model needs its options (callable)")
        super().__init__(options)
        self.target = load_object(options.callable)
        self.is_class = inspect.isclass(self.target)
        run = self.target.predict if self.is_class else self.target
        if not callable(run):
            raise ConfigError(f"{options.callable} is neither a function nor a class with predict")
        self._input_model, schema = _schema(self.target, run, options.input_schema)
        self.declare(
            modality=options.modality,
            description=(inspect.getdoc(self.target) or options.callable).split("\n\n")[0],
            input_schema=schema,
        )
        self._wants_ctx = "ctx" in inspect.signature(run).parameters
        self.instance: Any = None

    def setup(self) -> None:
        if self.is_class:
            self.instance = self.target(**self.options.settings)
            if hasattr(self.instance, "setup"):
                self.instance.setup()

    def teardown(self) -> None:
        if self.instance is not None and hasattr(self.instance, "teardown"):
            self.instance.teardown()
        self.instance = None

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        value: Any = input
        if self._input_model is not None:
            try:
                value = self._input_model.model_validate(input)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        run = self.instance.predict if self.is_class else self.target
        result = run(value, ctx=ctx) if self._wants_ctx else run(value)
        add_outputs(result, ctx)


def add_outputs(result: Any, ctx: RunContext) -> None:
    """Turn what a plug-in returned into job outputs."""
    items = result if isinstance(result, list | tuple) else [result]
    for index, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, Path):
            content_type = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
            ctx.add_output(item, content_type)
        elif isinstance(item, str):
            path = ctx.work_dir / f"output-{index}.txt"
            path.write_text(item, encoding="utf-8")
            ctx.add_output(path, "text/plain; charset=utf-8")
        elif isinstance(item, bytes):
            path = ctx.work_dir / f"output-{index}.bin"
            path.write_bytes(item)
            ctx.add_output(path, "application/octet-stream")
        elif hasattr(item, "save") and hasattr(item, "size"):  # a PIL image
            path = ctx.work_dir / f"output-{index}.png"
            item.save(path, "PNG", compress_level=1)
            ctx.add_output(path, "image/png", width=item.size[0], height=item.size[1])
        else:
            raise TypeError(
                f"a plug-in returned a {type(item).__name__}: return a PIL image, a Path, a str,"
                " bytes, a list of these, or None"
            )


def _schema(
    target: Any, run: Any, configured: dict[str, Any] | None
) -> tuple[type[BaseModel] | None, dict[str, Any]]:
    """The Pydantic model the input is parsed into (if any) and the input's JSON Schema."""
    params = [
        p for p in inspect.signature(run).parameters.values() if p.name not in ("self", "ctx")
    ]
    annotation = params[0].annotation if params else None
    if isinstance(annotation, str):
        hints = inspect.get_annotations(run, eval_str=True)
        annotation = hints.get(params[0].name)
    input_model = annotation if _is_model(annotation) else None
    if configured is not None:
        return input_model, configured
    declared = getattr(target, "input_schema", None)
    if input_model is None and _is_model(declared):
        input_model = declared
    if input_model is not None:
        return input_model, input_model.model_json_schema()
    if isinstance(declared, dict):
        return None, declared
    return None, {"type": "object"}


def _is_model(value: Any) -> bool:
    return inspect.isclass(value) and issubclass(value, BaseModel)
