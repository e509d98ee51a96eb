"""genq: asynchronous inference for generative media models.

This package is also the client of a genq server (``genq.Client``, ``genq.AsyncClient``);
the server lives in its submodules and needs the ``server`` extra.

The client's names are imported on first use: a worker process, which imports ``genq`` on
its way to ``genq.worker``, does not pay for httpx and the client at every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from genq.client import (
        APIError,
        AsyncClient,
        AsyncJobHandle,
        AuthenticationError,
        ChecksumMismatch,
        Client,
        Conflict,
        Event,
        GenqError,
        InsufficientCredits,
        Job,
        JobCanceled,
        JobError,
        JobErrorInfo,
        JobExpired,
        JobFailed,
        JobHandle,
        JobStatus,
        ModelInfo,
        NotFound,
        Origin,
        Output,
        PermissionDenied,
        Progress,
        ProtocolError,
        RateLimited,
        ServerError,
        Timeout,
        TransportError,
        ValidationError,
        Webhook,
        WebhookDelivery,
    )

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncJobHandle",
    "AuthenticationError",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "Event",
    "GenqError",
    "InsufficientCredits",
    "Job",
    "JobCanceled",
    "JobError",
    "JobErrorInfo",
    "JobExpired",
    "JobFailed",
    "JobHandle",
    "JobStatus",
    "ModelInfo",
    "NotFound",
    "Origin",
    "Output",
    "PermissionDenied",
    "Progress",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "Timeout",
    "TransportError",
    "ValidationError",
    "Webhook",
    "WebhookDelivery",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        value = getattr(importlib.import_module("genq.client"), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'genq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
