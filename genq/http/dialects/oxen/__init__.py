"""Oxen.ai's async generation queue and synchronous generate endpoints."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect
from genq.http.dialects.oxen.settings import OxenSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="oxen",
    title="Oxen.ai",
    settings_model=OxenSettings,
    default_aliases={"kling-video-o3-pro-reference-to-video": {"model": "demo-video"}},
    routes="genq.http.dialects.oxen.routes",
)
