"""NetMind's asynchronous inference API, ``/v1/generation``: one generic job API for any
model, named by its slug."""

from __future__ import annotations

from genq.http.dialects.dialect import Dialect, DialectSettings

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="netmind",
    title="NetMind",
    settings_model=DialectSettings,
    default_aliases={
        "Qwen/Qwen-Image": {"model": "demo-image"},
        "hkchengrex/MMAudio": {"model": "demo-audio"},
    },
    routes="genq.http.dialects.netmind.routes",
)
