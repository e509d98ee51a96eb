"""NetMind's legacy job API, ``/v1/netmind-video-job`` and ``/v1/netmind-image-job``."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect, DialectSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="netmind_legacy",
    title="NetMind legacy jobs",
    settings_model=DialectSettings,
    # A job names no model, only a job type: the job types are the aliases.
    default_aliases={
        "text2video": {"model": "demo-video"},
        "text2image": {"model": "demo-image"},
    },
    routes="genq.http.dialects.netmind_legacy.routes",
)
