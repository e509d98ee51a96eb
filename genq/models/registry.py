"""The model registry: built-in models plus entries from the ``[models.NAME]`` tables of the
TOML config. Each entry names a ``Model`` class, by its ``module:Class`` entry point or by a
runtime (``runtime = "diffusers"``; for the transformers runtime, with its ``task``); the
table's other keys are that class's ``Options``."""

from __future__ import annotations

import importlib
import typing
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pydantic

from genq.deadlines import MAX_TIMEOUT_SECONDS
from genq.errors import ConfigError, Missing, ModelUnavailable
from genq.models.aliases import Alias, check_input, parse_aliases, strict_validator
from genq.models.base import Model, Price, fill_defaults
from genq.retries import DEFAULT_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, MOST_RETRIES, AutoRetry
from genq.runtimes.diffusion_inputs import Task as DiffusersTask

BUILTIN_MODELS = {
    "noop": "genq.demos.noop:Noop",
    "demo-image": "genq.demos.image:DemoImage",
    "demo-video": "genq.demos.video:DemoVideo",
    "demo-speech": "genq.demos.speech:DemoSpeech",
    "demo-audio": "genq.demos.audio:DemoAudio",
    "demo-text": "genq.demos.text:DemoText",
}

RUNTIMES = {
    "diffusers": "genq.runtimes.diffusion:DiffusersModel",
    "transformers": "genq.runtimes.textgen:TextGenerationModel",
    "python": "genq.runtimes.plugin:PythonModel",
    "cog": "genq.runtimes.cog:CogModel",
    "runpod": "genq.runtimes.runpod:RunPodModel",
}

#: Runtimes with one class per task, picked by the table's ``task`` key (the first task when
#: the table has none): task -> entry point.
RUNTIME_TASKS = {
    "transformers": {
        "text-generation": "genq.runtimes.textgen:TextGenerationModel",
        "automatic-speech-recognition": "genq.runtimes.speech_recognition:SpeechRecognitionModel",
        "text-to-speech": "genq.runtimes.text_to_speech:TextToSpeechModel",
        "image-to-text": "genq.runtimes.image_to_text:ImageToTextModel",
    },
}

#: Keys every ``[models.NAME]`` table may have; the others belong to the model's ``Options``.
_ENTRY_KEYS = {
    "entrypoint",
    "runtime",
    "description",
    "price",
    "enabled",
    "max_batch",
    "batch_wait_ms",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
}

DEFAULT_BATCH_WAIT_MS = 5.0


def load_object(target: str) -> Any:
    """The object ``module:name`` (or ``module:Class.attribute``) names."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{target!r} must look like 'module:name'")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load model entry point {target!r}: {exc}") from exc
    return found


def load_entrypoint(entrypoint: str) -> type[Model]:
    cls = load_object(entrypoint)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ConfigError(f"{entrypoint!r} is not a genq.models.Model subclass")
    return cls


@dataclass
class RegisteredModel:
    name: str
    model: Model
    description: str
    price: Price
    validator: jsonschema.protocols.Validator
    #: Most jobs one model call takes; 1: no batching.
    max_batch: int = 1
    #: How long a worker waits for companions of a job it claimed, in seconds.
    batch_wait: float = DEFAULT_BATCH_WAIT_MS / 1000
    #: The longest one of its jobs may run (and the most a submit's ``timeout`` may ask
    #: for); None: no limit.
    timeout_seconds: float | None = None
    #: Its automatic retries after a failure that may go away (``genq.retries``).
    retry: AutoRetry = field(default_factory=AutoRetry)

    @property
    def missing(self) -> list[str]:
        return self.model.missing_requirements()

    def describe(self) -> dict[str, Any]:
        missing = self.missing
        return {
            "name": self.name,
            "description": self.description,
            "modality": self.model.modality,
            # What it does (automatic-speech-recognition, ...); None when its class says not.
            "task": self.model.task or None,
            "input_schema": self.model.input_schema,
            "price": self.price.to_dict(),
            "max_batch": self.max_batch,
            "timeout_seconds": self.timeout_seconds,
            "max_retries": self.retry.max_retries,
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
        check_input(self.validator, input)
        return fill_defaults(self.model.input_schema, input)

    def batch_key(self, input: dict[str, Any]) -> str | None:
        """The key under which the job may share a model call; None: it runs alone."""
        return self.model.batch_key(input) if self.max_batch > 1 else None


def _timeout(where: str, entry: dict[str, Any]) -> float | None:
    """The ``timeout_seconds`` of a ``[models.NAME]`` table; None: no limit."""
    seconds = entry.get("timeout_seconds")
    if seconds is None:
        return None
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 < seconds <= MAX_TIMEOUT_SECONDS
    ):
        raise ConfigError(
            f"{where}.timeout_seconds must be a number of seconds above 0, at most a year"
        )
    return float(seconds)


def _entrypoint(where: str, entry: dict[str, Any]) -> str:
    runtime = entry.get("runtime")
    if runtime is None:
        if "entrypoint" not in entry:
            raise ConfigError(
                f"{where} needs a runtime ({', '.join(RUNTIMES)}) or an entrypoint = 'module:Class'"
            )
        return str(entry["entrypoint"])
    if "entrypoint" in entry:
        raise ConfigError(f"{where} has both a runtime and an entrypoint: keep one")
    if runtime not in RUNTIMES:
        raise ConfigError(f"{where}.runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    tasks = RUNTIME_TASKS.get(runtime)
    if tasks is not None:
        task = entry.get("task", next(iter(tasks)))
        if not isinstance(task, str) or task not in tasks:
            raise ConfigError(
                f"{where}.task {task!r} is not a task of the {runtime} runtime: "
                f"use one of {', '.join(tasks)}"
            )
        return tasks[task]
    return RUNTIMES[runtime]


def _own_keys(entry: dict[str, Any]) -> dict[str, Any]:
    """The keys of a ``[models.NAME]`` table that are its class's ``Options``: not the keys
    every table has, nor the ``task`` that picked the class."""
    picked = {"task"} if entry.get("runtime") in RUNTIME_TASKS else set()
    return {k: v for k, v in entry.items() if k not in _ENTRY_KEYS and k not in picked}


def _auto_retry(where: str, entry: dict[str, Any]) -> AutoRetry:
    """The ``max_retries`` and ``retry_backoff_seconds`` of a ``[models.NAME]`` table."""
    retries = entry.get("max_retries", 0)
    backoff = entry.get("retry_backoff_seconds", DEFAULT_BACKOFF_SECONDS)
    whole = isinstance(retries, int) and not isinstance(retries, bool)
    if not whole or not 0 <= retries <= MOST_RETRIES:
        raise ConfigError(f"{where}.max_retries must be a whole number from 0 to {MOST_RETRIES}")
    if (
        not isinstance(backoff, int | float)
        or isinstance(backoff, bool)
        or not 0 <= backoff <= MAX_BACKOFF_SECONDS
    ):
        raise ConfigError(
            f"{where}.retry_backoff_seconds must be a number of seconds from 0 to "
            f"{MAX_BACKOFF_SECONDS:g}"
        )
    return AutoRetry(retries, float(backoff))


class ModelRegistry:
    def __init__(
        self,
        config: dict[str, dict[str, Any]] | None = None,
        aliases: dict[str, str | dict[str, Any]] | None = None,
    ) -> None:
        entries: dict[str, dict[str, Any]] = {
            name: {"entrypoint": ep} for name, ep in BUILTIN_MODELS.items()
        }
        for name, table in (config or {}).items():
            entries.setdefault(name, {}).update(table)
        self._models: dict[str, RegisteredModel] = {}
        for name, entry in entries.items():
            if not entry.get("enabled", True):
                continue
            self._models[name] = self._register(name, entry)
        tasks = {registered.model.task for registered in self._models.values()}
        # Those of the runtimes, and those of the config's tables, enabled or not.
        tasks |= {task for runtime in RUNTIME_TASKS.values() for task in runtime}
        tasks |= set(typing.get_args(DiffusersTask))
        tasks |= {e["task"] for e in entries.values() if isinstance(e.get("task"), str)}
        self.aliases = parse_aliases(
            aliases,
            {name: registered.model.task for name, registered in self._models.items()},
            tasks - {""},
        )

    @staticmethod
    def _register(name: str, entry: dict[str, Any]) -> RegisteredModel:
        where = f"[models.{name}]"
        cls = load_entrypoint(_entrypoint(where, entry))
        own = _own_keys(entry)
        try:
            model = cls(cls.Options(**own))
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'table'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{where}: {problems}") from None
        price = model.price
        if "price" in entry:
            try:
                price = Price(**entry["price"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}.price: {exc}") from exc
        max_batch = entry.get("max_batch", 1)
        batch_wait_ms = entry.get("batch_wait_ms", DEFAULT_BATCH_WAIT_MS)
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise ConfigError(f"{where}.max_batch must be a whole number of at least 1")
        if not isinstance(batch_wait_ms, int | float) or not 0 <= batch_wait_ms <= 10_000:
            raise ConfigError(f"{where}.batch_wait_ms must be a number of ms from 0 to 10000")
        return RegisteredModel(
            name=name,
            model=model,
            description=entry.get("description", model.description),
            price=price,
            validator=strict_validator(model.input_schema, where),
            max_batch=max_batch,
            batch_wait=batch_wait_ms / 1000,
            timeout_seconds=_timeout(where, entry),
            retry=_auto_retry(where, entry),
        )

    def names(self) -> list[str]:
        return list(self._models)

    def get(self, name: str) -> RegisteredModel:
        """The model called ``name``, or the one the alias ``name`` names."""
        return self.resolve(name)[0]

    def resolve(self, name: str) -> tuple[RegisteredModel, Alias | None]:
        """The model ``name`` names, and the alias it went through (None: its own name). An
        alias by task that found no model of its task is no alias: its name is not found."""
        model = self._models.get(name)
        if model is not None:
            return model, None
        alias = self.aliases.get(name)
        if alias is None:
            raise Missing(f"no model named {name!r}", code="model_not_found")
        return self._models[alias.model], alias

    def price_for(self, model: str, requested: str | None) -> Price:
        """What a job of ``model`` costs when its caller named it ``requested``: the alias's
        price, when that alias (still) names this model and has one, else the model's."""
        alias = self.aliases.get(requested) if requested else None
        if alias is not None and alias.model == model and alias.price is not None:
            return alias.price
        return self.get(model).price

    def aliases_of(self, name: str) -> list[str]:
        return [alias.name for alias in self.aliases.values() if alias.model == name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._models.values())
