"""What a Cog predictor takes and gives, read by Cog's own inspector from its annotations: the
JSON Schema of its inputs, the schema of its output, and what kind of model it is.

The cog runtime (``genq.runtimes.cog``) runs this module in a child process, loaded by its
file's location, so that neither the predictor's imports nor genq's own reach that process's
memory or time: it imports the standard library and the ``cog`` package alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import inspect
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

#: What a ``Path`` or ``File`` input takes: URLs and ``data:`` URIs, in any letter case.
FILE_REFERENCE = "^([Hh][Tt][Tt][Pp][Ss]?://|[Dd][Aa][Tt][Aa]:)"


def describe(folder: Path, ref: str) -> dict[str, Any]:
    """The predictor's input schema, output schema, modality and description, read by Cog's
    inspector from its annotations (its module is imported; nothing is set up); or
    ``{"missing": name}`` when a module it imports is not installed."""
    from cog._inspector import create_predictor

    sys.path.insert(0, str(folder))
    file, _, name = ref.partition(":")
    module_name = Path(file).stem
    try:
        with quiet_deprecations():
            module = _import_file(folder / file, module_name)
            name = name or _default_class(module)
            info = create_predictor(module_name, name)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top and importlib.util.find_spec(top) is None:
            return {"missing": top}
        raise
    target = getattr(module, name)
    # The class's own docstring: one inherited from BasePredictor says nothing of the model.
    doc = inspect.cleandoc(target.__dict__.get("__doc__") or "") if inspect.isclass(target) else ""
    returns = info.output.type
    text = returns is not None and returns.name == "STRING"
    return {
        "input_schema": input_schema(info, run_method(target)),
        "output_schema": info.output.json_type(),
        "modality": "text" if text else "none",
        "description": doc.split("\n\n")[0].strip() or None,
    }


def _import_file(path: Path, module_name: str) -> Any:
    """Import a file as Cog's loader does: by its location, as the module named after it."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _default_class(module: Any) -> str:
    """The class Cog's loader picks when the reference names none."""
    return "Runner" if hasattr(module, "Runner") else "Predictor"


def run_method(target: Any) -> Callable[..., Any]:
    """The function that runs a prediction: the class's own ``run``, else its ``predict``
    (the method Cog calls), or the predictor itself when it is a function."""
    if not inspect.isclass(target):
        return target
    from cog import BasePredictor, BaseRunner

    name = "predict"
    for owner in inspect.getmro(target):
        if owner in (BaseRunner, BasePredictor, object):
            break
        if callable(owner.__dict__.get("run")):
            name = "run"
            break
    method: Callable[..., Any] = getattr(target, name)
    return method


@contextlib.contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Cog warns about ``BasePredictor`` and ``predict()``: those models run as they are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


# -- the input schema ------------------------------------------------------------------------
def input_schema(info: Any, run: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of the predictor's inputs, from Cog's ``PredictorInfo`` (and, for file
    inputs, the ``accept`` of their ``Input(...)``)."""
    from cog.input import FieldInfo

    declared = inspect.signature(run).parameters
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in sorted(info.inputs.items(), key=lambda item: item[1].order):
        given = declared[name].default if name in declared else None
        accept = given.accept if isinstance(given, FieldInfo) else None
        properties[name] = _property(spec, accept)
        if not _has_default(spec) and not _nullable(spec):
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "title": "Input", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _property(spec: Any, accept: str | None) -> dict[str, Any]:
    kind = spec.type
    prop: dict[str, Any] = {"title": spec.name.replace("_", " ").title(), "x-order": spec.order}
    prop.update(kind.json_type())
    prop.pop("nullable", None)  # OpenAPI's word: JSON Schema allows null in the type instead
    if spec.description:
        prop["description"] = spec.description
    # Constraints on a list's values go on its items.
    item: dict[str, Any] = prop["items"] if prop.get("type") == "array" else prop
    if kind.primitive.name in ("PATH", "FILE"):
        item["pattern"] = FILE_REFERENCE
        hints: dict[str, Any] = {"widget": "file-upload"}
        if accept:
            hints["accept"] = accept
            if accept.startswith("image/"):
                hints["uploadKind"] = "image"
        if item is not prop:
            hints["multiple"] = True
        prop["x-playground"] = hints
    for key, value in (("minimum", spec.ge), ("maximum", spec.le)):
        if value is not None:
            item[key] = int(value) if float(value).is_integer() else value
    for key, value in (("minLength", spec.min_length), ("maxLength", spec.max_length)):
        if value is not None:
            item[key] = value
    if spec.regex is not None:
        item["pattern"] = _anchored(spec.regex)
    if spec.choices is not None:
        item["enum"] = list(spec.choices)
    if spec.deprecated:
        prop["deprecated"] = True
    default = _default(spec)
    if default is not None:
        prop["default"] = default
    if _nullable(spec):
        _allow_null(prop)
    return prop


def _anchored(regex: str) -> str:
    """Cog matches its ``regex`` at the start of the value (``re.match``); JSON Schema's
    ``pattern`` may match anywhere."""
    if regex.startswith(("^", "(?")):
        return regex
    return f"^(?:{regex})"


def _has_default(spec: Any) -> bool:
    """Whether Cog's ``check_input`` fills this input in when the job leaves it out."""
    default = spec.default
    if isinstance(default, dataclasses.Field):
        return (
            default.default is not dataclasses.MISSING
            or default.default_factory is not dataclasses.MISSING
        )
    return default is not None


def _nullable(spec: Any) -> bool:
    return bool(spec.type.repetition.name in ("OPTIONAL", "OPTIONAL_REPEATED"))


def _default(spec: Any) -> Any:
    """The default as JSON, where the schema may show it (not a secret's)."""
    default = spec.default
    if isinstance(default, dataclasses.Field) or spec.type.primitive.name == "SECRET":
        return None
    if isinstance(default, PurePath):
        return str(getattr(default, "source", default))
    if isinstance(default, list):
        return [str(v) if isinstance(v, PurePath) else v for v in default]
    return default


def _allow_null(prop: dict[str, Any]) -> None:
    if "anyOf" in prop:
        prop["anyOf"].append({"type": "null"})
        return
    if isinstance(prop.get("type"), str):
        prop["type"] = [prop["type"], "null"]
    if "enum" in prop:
        prop["enum"].append(None)


def main(folder: str, ref: str) -> None:
    """Print ``describe``'s answer as JSON; whatever the predictor's module prints goes to
    stderr."""
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    found = describe(Path(folder), ref)
    answer.write(json.dumps(found))
    answer.close()
