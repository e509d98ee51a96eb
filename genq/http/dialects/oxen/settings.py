"""The ``[dialects.oxen]`` table."""

from __future__ import annotations

from pydantic import Field

from genq.http.dialects.dialect import DialectSettings


class OxenSettings(DialectSettings):
    # Oxen's document promises that generations expire after 24 hours.
    retention_seconds: float | None = Field(default=24 * 3600, gt=0)
    #: Longest a synchronous ``/api/ai/images|videos/generate`` request waits for its result.
    sync_timeout_seconds: float = Field(default=600.0, gt=0)
