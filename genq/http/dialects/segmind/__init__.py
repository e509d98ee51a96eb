"""Segmind's async inference (V2), ``/v2/{model}``, and its legacy poll."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect
from genq.http.dialects.segmind.settings import SegmindSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="segmind",
    title="Segmind",
    settings_model=SegmindSettings,
    default_aliases={"seedream-4.5": {"model": "demo-image"}},
    routes="genq.http.dialects.segmind.routes",
)
