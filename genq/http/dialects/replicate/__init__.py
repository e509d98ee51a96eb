"""Replicate's predictions API, served under `/replicate`
(`REPLICATE_BASE_URL=http://HOST/replicate`)."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect, DialectSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="replicate",
    title="Replicate",
    settings_model=DialectSettings,
    default_aliases={},
    routes="genq.http.dialects.replicate.routes",
)
