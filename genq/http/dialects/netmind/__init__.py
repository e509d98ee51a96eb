"""NetMind's asynchronous inference API, ``/v1/generation``: one generic job API for any
model, named by its slug. ``openai/whisper``, the slug its clients transcribe with, names the
first configured speech-to-text model (by its task); without one it is not found."""

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
        "openai/whisper": {"task": "automatic-speech-recognition"},
    },
    routes="genq.http.dialects.netmind.routes",
)
