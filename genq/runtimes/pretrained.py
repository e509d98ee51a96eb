"""What the classes of the transformers runtime share, one class per task (text generation,
speech recognition, text to speech, image to text): the keys that load a pretrained model,
the memory it holds, and its ``config.json`` read without importing transformers, which the
API process never does (it builds input schemas from the config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from genq.logs import quiet_loaded_libraries
from genq.models.base import Model, Price
from genq.runtimes.device import (
    TorchOptions,
    folder_weight_bytes,
    module_bytes,
    pick_device,
    pick_dtype,
)


class PretrainedModel(Model):
    """A model loaded with transformers' ``from_pretrained`` from ``options.source``: a subclass
    loads ``self.model`` (the torch module whose memory counts) in ``setup``, after
    ``prepare``, and whatever else it needs beside it."""

    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    extra = "transformers"
    price = Price(per_job=0.0)
    Options: ClassVar[type[TorchOptions]] = TorchOptions
    options: TorchOptions

    def __init__(self, options: TorchOptions | None = None) -> None:
        if options is None:
            raise TypeError("a transformers model needs its options (source)")
        super().__init__(options)
        self.model: Any = None

    def prepare(self) -> None:
        """Quiet transformers and pick the device and dtype: the start of every ``setup``."""
        # Their progress bars and notes are no news to genq's log.
        quiet_loaded_libraries()
        self.device = pick_device(self.options.device)
        self.dtype = pick_dtype(self.options.dtype, self.device)

    def source_kwargs(self) -> dict[str, Any]:
        """Where the files come from, for every ``from_pretrained`` (models and processors)."""
        o = self.options
        return {k: getattr(o, k) for k in ("revision", "cache_dir") if getattr(o, k)}

    def weight_kwargs(self) -> dict[str, Any]:
        """``source_kwargs`` plus the dtype and weight variant, for a model's
        ``from_pretrained``."""
        variant = {"variant": self.options.variant} if self.options.variant else {}
        return {**self.source_kwargs(), "dtype": self.dtype, **variant}

    def pipeline(self, task: str) -> Any:
        """transformers' pipeline for ``task`` with this model's files, device and dtype; its
        ``model`` is ``self.model``."""
        import transformers

        o = self.options
        # The pipeline hands model_kwargs to every from_pretrained it calls.
        files = {k: getattr(o, k) for k in ("cache_dir", "variant") if getattr(o, k)}
        make: Any = transformers.pipeline  # typed per task name, and this one is a variable
        pipe = make(
            task,
            model=o.source,
            revision=o.revision,
            device=self.device,
            dtype=self.dtype,
            model_kwargs=files,
        )
        self.model = pipe.model
        return pipe

    def teardown(self) -> None:
        self.model = None

    def memory_bytes(self) -> int:
        if self.model is None:
            return folder_weight_bytes(self.options.source)
        return module_bytes([self.model])


def model_config(o: TorchOptions) -> dict[str, Any]:
    """The model's ``config.json``, from its folder or the hub cache; {} when it is in
    neither yet (a hub id not downloaded): what the schema shows then is the safe default."""
    folder = Path(o.source)
    if folder.is_dir():
        path: Path | None = folder / "config.json"
    else:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError

        try:
            found = try_to_load_from_cache(
                o.source, "config.json", cache_dir=o.cache_dir, revision=o.revision
            )
        except HFValidationError:  # neither a folder nor a hub id: loading will say so
            found = None
        path = Path(found) if isinstance(found, str) else None
    if path is None or not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}
