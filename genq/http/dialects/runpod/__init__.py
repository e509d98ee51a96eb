"""RunPod's serverless endpoints, served under `/runpod/v2`
(`RUNPOD_ENDPOINT_BASE_URL=http://HOST/runpod/v2`)."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect, DialectSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="runpod",
    title="RunPod",
    settings_model=DialectSettings,
    default_aliases={},
    routes="genq.http.dialects.runpod.routes",
    webhook_body="genq.http.dialects.runpod.routes:webhook_body",
)
