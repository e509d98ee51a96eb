"""What the torch-based runtimes share: the device and dtype a model runs with, the options
that choose them, and how much memory a loaded model holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from genq.models.base import ModelOptions

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class TorchOptions(ModelOptions):
    #: A local folder, or a model id on the hub (downloaded to the cache unless
    #: ``HF_HUB_OFFLINE=1``, which loads from the cache alone).
    source: str = Field(min_length=1)
    revision: str | None = None
    #: Weight file variant, e.g. ``fp16`` for ``*.fp16.safetensors``.
    variant: str | None = None
    cache_dir: str | None = None
    #: ``auto``: CUDA when present, then Apple's MPS, else the CPU; or ``cpu``, ``cuda:1``, ...
    device: str = "auto"
    #: ``auto``: bfloat16 on CUDA devices that support it, else float16; float32 on the CPU.
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"


def pick_device(choice: str) -> Any:
    import torch

    if choice != "auto":
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(choice: str, device: Any) -> Any:
    import torch

    if choice != "auto":
        return getattr(torch, choice)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    # Half precision on a CPU is slow or unsupported for many kernels.
    return torch.float32


def module_bytes(modules: list[Any]) -> int:
    """Bytes held by the parameters and buffers of torch modules."""
    import torch

    total = 0
    for module in modules:
        if isinstance(module, torch.nn.Module):
            for tensor in (*module.parameters(), *module.buffers()):
                total += tensor.numel() * tensor.element_size()
    return total


def folder_weight_bytes(source: str) -> int:
    """Size of the weight files of a local model folder (0 for a hub id): what loading it
    will take, give or take a dtype conversion."""
    folder = Path(source)
    if not folder.is_dir():
        return 0
    return sum(
        path.stat().st_size
        for path in folder.rglob("*")
        if path.suffix in WEIGHT_SUFFIXES and path.is_file()
    )
