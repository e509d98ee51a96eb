"""The ``[dialects.segmind]`` table."""

from __future__ import annotations

from pydantic import Field

from genq.http.dialects.dialect import DialectSettings


class SegmindSettings(DialectSettings):
    # Segmind's document keeps results for one hour after submission.
    retention_seconds: float | None = Field(default=3600, gt=0)
