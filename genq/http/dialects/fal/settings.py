"""The ``[dialects.fal]`` table."""

from __future__ import annotations

from pydantic import Field

from genq.http.dialects.dialect import DialectSettings


class FalSettings(DialectSettings):
    #: The app owner that names genq's own models and aliases: ``genq/demo-image`` runs
    #: ``demo-image``.
    owner: str = Field(default="genq", min_length=1, max_length=100, pattern=r"^[^/\s]+$")
    #: Longest a synchronous run (``POST /fal/run/...``) waits for its result.
    sync_timeout_seconds: float = Field(default=600.0, gt=0)
