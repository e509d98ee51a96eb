"""The model registry: built-in models plus entries from the ``[models.NAME]`` tables of the
TOML config, each a ``Model`` class found by its ``module:Class`` entry point."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import jsonschema

from genq.errors import ConfigError, ModelUnavailable, NotFound, ValidationFailed
from genq.models.base import Model, Price, fill_defaults

BUILTIN_MODELS = {
    "noop": "genq.models.noop:Noop",
    "demo-image": "genq.models.demo_image:DemoImage",
    "demo-video": "genq.models.demo_video:DemoVideo",
    "demo-speech": "genq.models.demo_speech:DemoSpeech",
}

_ENTRY_KEYS = {"entrypoint", "description", "price", "enabled"}


def load_entrypoint(entrypoint: str) -> type[Model]:
    module_name, _, attr = entrypoint.partition(":")
    if not attr:
        raise ConfigError(f"model entry point {entrypoint!r} must look like 'module:Class'")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load model entry point {entrypoint!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ConfigError(f"{entrypoint!r} is not a genq.models.Model subclass")
    return cls


def strict_integers(validator_cls: Any) -> Any:
    """JSON Schema counts 2.0 as an integer; models index and loop with these values, so
    genq takes only real integers (a float in an integer field is a 422, not a failed job)."""

    def is_integer(checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    type_checker = validator_cls.TYPE_CHECKER.redefine("integer", is_integer)
    return jsonschema.validators.extend(validator_cls, type_checker=type_checker)


@dataclass
class RegisteredModel:
    name: str
    model: Model
    description: str
    price: Price
    validator: jsonschema.protocols.Validator

    @property
    def missing(self) -> list[str]:
        return self.model.missing_requirements()

    def describe(self) -> dict[str, Any]:
        missing = self.missing
        return {
            "name": self.name,
            "description": self.description,
            "modality": self.model.modality,
            "input_schema": self.model.input_schema,
            "price": self.price.to_dict(),
            "available": not missing,
            **({"unavailable_reason": self._unavailable_reason(missing)} if missing else {}),
        }

    def _unavailable_reason(self, missing: list[str]) -> str:
        hint = f" (pip install 'genq[{self.model.extra}]')" if self.model.extra else ""
        return f"missing Python packages: {', '.join(missing)}{hint}"

    def check_available(self) -> None:
        missing = self.missing
        if missing:
            raise ModelUnavailable(
                f"model {self.name!r} cannot run here: {self._unavailable_reason(missing)}"
            )

    def validate(self, input: Any) -> dict[str, Any]:
        """Check ``input`` against the schema; return a copy with top-level defaults filled."""
        errors = sorted(self.validator.iter_errors(input), key=lambda e: list(e.absolute_path))
        if errors:
            details = [
                {
                    "path": "/".join(str(p) for p in ("input", *e.absolute_path)),
                    "message": e.message,
                }
                for e in errors
            ]
            summary = "; ".join(f"{d['path']}: {d['message']}" for d in details[:5])
            raise ValidationFailed(f"invalid input: {summary}", details=details)
        return fill_defaults(self.model.input_schema, input)

    def estimate(self, input: dict[str, Any]) -> float:
        usage = self.model.usage(input)
        return self.price.cost(usage.outputs, usage.media_seconds)


class ModelRegistry:
    def __init__(self, config: dict[str, dict[str, Any]] | None = None) -> None:
        entries: dict[str, dict[str, Any]] = {
            name: {"entrypoint": ep} for name, ep in BUILTIN_MODELS.items()
        }
        for name, table in (config or {}).items():
            unknown = set(table) - _ENTRY_KEYS
            if unknown:
                raise ConfigError(f"[models.{name}]: unknown keys {sorted(unknown)}")
            entries.setdefault(name, {}).update(table)
        self._models: dict[str, RegisteredModel] = {}
        for name, entry in entries.items():
            if not entry.get("enabled", True):
                continue
            if "entrypoint" not in entry:
                raise ConfigError(f"[models.{name}] needs an entrypoint = 'module:Class'")
            self._models[name] = self._register(name, entry)

    @staticmethod
    def _register(name: str, entry: dict[str, Any]) -> RegisteredModel:
        cls = load_entrypoint(entry["entrypoint"])
        price = cls.price
        if "price" in entry:
            try:
                price = Price(**entry["price"])
            except TypeError as exc:
                raise ConfigError(f"[models.{name}].price: {exc}") from exc
        validator_cls = strict_integers(jsonschema.validators.validator_for(cls.input_schema))
        validator_cls.check_schema(cls.input_schema)
        return RegisteredModel(
            name=name,
            model=cls(),
            description=entry.get("description", cls.description),
            price=price,
            validator=validator_cls(cls.input_schema),
        )

    def names(self) -> list[str]:
        return list(self._models)

    def get(self, name: str) -> RegisteredModel:
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(f"no model named {name!r}", code="model_not_found") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._models.values())
