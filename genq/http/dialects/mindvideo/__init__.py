"""MindVideo's tasks API, ``/api/v1/tasks``: models named by slug, each slug with its own
input schema."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect, DialectSettings
from genq.http.dialects.mindvideo.schemas import QWEN_IMAGE_2_PRO_SCHEMA

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="mindvideo",
    title="MindVideo dialect",
    settings_model=DialectSettings,
    default_aliases={
        "qwen-image-2-0-pro": {"model": "demo-image", "input_schema": QWEN_IMAGE_2_PRO_SCHEMA},
    },
    routes="genq.http.dialects.mindvideo.routes",
)
