"""Model aliases: other names for a registered model, such as the slugs vendor APIs use
(``Qwen/Qwen-Image``, ``seedream-4.5``). An alias may add default inputs, may have its own
price, and may carry the vendor's own input schema, which the vendor dialect checks a request
against before it translates the request into the model's inputs.

Aliases come from the ``[aliases]`` table of the config, over the defaults the vendor
dialects bring, which map every slug named in the vendors' documents to a demo model.

An alias names its model (``model = "whisper-small"``) or a task (``task =
"automatic-speech-recognition"``): the first registered model that does that task, in the
order of the config. With none such the alias is left out, and its name is not found.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from genq.errors import ConfigError, ValidationFailed
from genq.http.dialects.registry import DEFAULT_ALIASES as dialect_aliases
from genq.media.fetch import check_audio_reference, check_reference
from genq.models.base import AUDIO_REFERENCE, IMAGE_REFERENCE, InputError, Price

#: Every model slug the vendors' documents name, mapped to the demo model closest to it; each
#: vendor dialect brings its own.
DEFAULT_ALIASES: dict[str, dict[str, Any]] = dialect_aliases

_ALIAS_KEYS = {"model", "task", "input", "input_schema", "price"}


def strict_validator(schema: dict[str, Any], where: str) -> jsonschema.protocols.Validator:
    """A validator for ``schema`` that takes only real integers as integers: JSON Schema
    counts 2.0 as one, but models index and loop with these values."""
    base = jsonschema.validators.validator_for(schema)

    def is_integer(checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    cls = jsonschema.validators.extend(
        base, type_checker=base.TYPE_CHECKER.redefine("integer", is_integer)
    )
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"{where}: the input schema is not valid: {exc.message}") from None
    return cls(schema, format_checker=_FORMATS)


def _is_image_reference(value: object) -> bool:
    if isinstance(value, str):  # other types are the "type" keyword's to refuse
        check_reference(value)
    return True


def _is_audio_reference(value: object) -> bool:
    if isinstance(value, str):
        check_audio_reference(value)
    return True


# Only genq's own formats are checked: others ("uri", "email", ...) stay annotations, as the
# schemas that use them were written for.
_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks(IMAGE_REFERENCE, raises=InputError)(_is_image_reference)
_FORMATS.checks(AUDIO_REFERENCE, raises=InputError)(_is_audio_reference)


def check_input(validator: jsonschema.protocols.Validator, input: Any, root: str = "input") -> None:
    """Raise ``ValidationFailed`` naming every field of ``input`` that breaks the schema."""
    errors = sorted(validator.iter_errors(input), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    details = [detail for e in errors for detail in _details(e, root)]
    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details[:5])
    raise ValidationFailed(f"invalid input: {summary}", details=details)


def _details(error: jsonschema.ValidationError, root: str) -> list[dict[str, str]]:
    """The failing fields of one error: a missing or unexpected property is named by its own
    path (``input/prompt``), not by the object's that lacks or has it."""
    path = "/".join(str(p) for p in (root, *error.absolute_path) if p != "")
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        return [{"path": _join(path, name), "message": "is required"} for name in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        extra = [
            name
            for name in instance
            if name not in known and not any(re.search(p, name) for p in patterns)
        ]
        if extra:
            return [
                {"path": _join(path, name), "message": "is not an input of this model"}
                for name in extra
            ]
    if error.validator == "format" and error.cause is not None:
        # The reason, not jsonschema's "'<the whole value>' is not a '<format>'".
        return [{"path": path, "message": str(error.cause)}]
    return [{"path": path, "message": error.message}]


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


@dataclass(frozen=True)
class Alias:
    name: str
    #: The registered model it names.
    model: str
    #: The task it found its model by; None: it names its model.
    task: str | None = None
    #: Inputs the alias gives the model unless the request sets them.
    input: dict[str, Any] = field(default_factory=dict)
    #: The vendor's schema for this slug, checked before translation; None: none.
    input_schema: dict[str, Any] | None = None
    validator: jsonschema.protocols.Validator | None = None
    #: What a job costs through this alias; None: the model's own price.
    price: Price | None = None

    def check(self, fields: Any, root: str = "input") -> None:
        """Check a request's fields against the vendor schema, when the alias has one."""
        if self.validator is not None:
            check_input(self.validator, fields, root)


def parse_aliases(
    config: dict[str, str | dict[str, Any]] | None,
    models: dict[str, str],
    tasks: Collection[str] = (),
) -> dict[str, Alias]:
    """The default aliases whose model is registered, with the config's own over them.
    ``models`` maps each registered model's name to its task ("" for none), in the order of
    the config; ``tasks`` are the tasks a configured alias may name (none given: any).

    A configured alias must name a registered model or a known task; a default one whose
    model is missing (disabled in the config) is left out, as is an alias of a task no model
    does.
    """
    aliases: dict[str, Alias] = {}
    for name, entry in DEFAULT_ALIASES.items():
        model = _target(entry, models)
        if model is not None and name not in models:
            aliases[name] = _alias(name, model, entry, f"default alias {name!r}")
    for name, raw in (config or {}).items():
        where = f"[aliases.{name!r}]"
        entry = {"model": raw} if isinstance(raw, str) else dict(raw)
        unknown = set(entry) - _ALIAS_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if name in models:
            raise ConfigError(f"{where}: {name!r} is already a model's own name")
        if "task" in entry:
            if "model" in entry:
                raise ConfigError(f"{where} has both a model and a task: keep one")
            if not isinstance(entry["task"], str) or not entry["task"]:
                raise ConfigError(f"{where}.task must be a task's name")
            if tasks and entry["task"] not in tasks:
                raise ConfigError(
                    f"{where}.task {entry['task']!r} is not a task: use one of "
                    f"{', '.join(sorted(tasks))}"
                )
        elif entry.get("model") not in models:
            raise ConfigError(f"{where}: model {entry.get('model')!r} is not a registered model")
        model = _target(entry, models)
        aliases.pop(name, None)  # a configured alias that finds no model hides the default
        if model is not None:
            aliases[name] = _alias(name, model, entry, where)
    return aliases


def _target(entry: dict[str, Any], models: dict[str, str]) -> str | None:
    """The registered model an alias entry names: its ``model``, or the first model whose
    task is its ``task``; None when there is none."""
    task = entry.get("task")
    if task is None:
        model = entry.get("model")
        return model if model in models else None
    return next((name for name, does in models.items() if does == task), None)


def _alias(name: str, model: str, entry: dict[str, Any], where: str) -> Alias:
    schema = entry.get("input_schema")
    if schema is not None and not isinstance(schema, dict):
        raise ConfigError(f"{where}.input_schema must be a table (a JSON Schema object)")
    given = entry.get("input", {})
    if not isinstance(given, dict):
        raise ConfigError(f"{where}.input must be a table of input values")
    price = None
    if "price" in entry:
        try:
            price = Price(**entry["price"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.price: {exc}") from exc
    return Alias(
        name=name,
        model=model,
        task=entry.get("task"),
        input=given,
        input_schema=schema,
        validator=None if schema is None else strict_validator(schema, where),
        price=price,
    )
