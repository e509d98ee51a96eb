"""The vendor API dialects: each module translates one vendor's documented API onto the job
service, so that client code written for that vendor works against genq by changing its base
URL and key. The module names are the keys of the ``[dialects]`` settings."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from genq.settings import Settings

DIALECTS = ("netmind", "netmind_legacy", "mindvideo", "oxen", "segmind")


def include_dialects(app: FastAPI, settings: Settings) -> list[str]:
    """Add the routes of every dialect the settings leave on; returns their names."""
    enabled = [name for name in DIALECTS if getattr(settings.dialects, name).enabled]
    for name in enabled:
        module = importlib.import_module(f"genq.http.dialects.{name}")
        app.include_router(module.router)
    return enabled
