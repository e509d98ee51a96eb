"""Replicate's predictions API, served under ``/replicate``
(``REPLICATE_BASE_URL=http://HOST:PORT/replicate``)."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect
from genq.http.dialects.replicate.settings import ReplicateSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="replicate",
    title="Replicate",
    settings_model=ReplicateSettings,
    default_aliases={
        "black-forest-labs/flux-schnell": {"model": "demo-image"},
        "black-forest-labs/flux-dev": {"model": "demo-image"},
        "stability-ai/sdxl": {"model": "demo-image"},
        "meta/meta-llama-3-8b-instruct": {"model": "demo-text"},
        "minimax/video-01": {"model": "demo-video"},
        "meta/musicgen": {"model": "demo-audio"},
    },
    routes="genq.http.dialects.replicate.routes",
    webhook_body="genq.http.dialects.replicate.predictions:webhook_body",
)
