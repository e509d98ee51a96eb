"""fal's queue API under ``/fal/queue`` and its synchronous run under ``/fal/run``
(``FAL_QUEUE_RUN_HOST=HOST:PORT/fal/queue``, ``FAL_RUN_HOST=HOST:PORT/fal/run``), over TLS."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect
from genq.http.dialects.fal.settings import FalSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="fal",
    title="fal",
    settings_model=FalSettings,
    default_aliases={
        "fal-ai/flux/schnell": {"model": "demo-image"},
        "fal-ai/flux/dev": {"model": "demo-image"},
        "fal-ai/fast-sdxl": {"model": "demo-image"},
        "fal-ai/ltx-video": {"model": "demo-video"},
        "fal-ai/stable-audio": {"model": "demo-audio"},
        "fal-ai/any-llm": {"model": "demo-text"},
    },
    routes="genq.http.dialects.fal.routes",
    webhook_body="genq.http.dialects.fal.answers:webhook_body",
)
