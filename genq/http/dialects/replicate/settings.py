"""The ``[dialects.replicate]`` table."""

from __future__ import annotations

from pydantic import Field

from genq.http.dialects.dialect import DialectSettings


class ReplicateSettings(DialectSettings):
    #: The owner under which genq's own models and aliases are found: ``genq/demo-image``
    #: names the model ``demo-image``.
    owner: str = Field(default="genq", min_length=1, max_length=100, pattern=r"^[^/:\s]+$")
    #: How long an uploaded file (``POST /v1/files``) can be named in a prediction's input.
    upload_retention_seconds: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)
    #: Most uploads, and bytes of them, one account holds at once (per API process).
    max_uploads_per_account: int = Field(default=100, ge=1)
    max_upload_bytes_per_account: int = Field(default=512 * 1024 * 1024, ge=1)
