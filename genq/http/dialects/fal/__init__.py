"""fal's queue API, served under `/fal` (`FAL_QUEUE_RUN_HOST=HOST/fal`), over TLS."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect, DialectSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="fal",
    title="fal",
    settings_model=DialectSettings,
    default_aliases={},
    routes="genq.http.dialects.fal.routes",
)
