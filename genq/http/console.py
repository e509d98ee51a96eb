"""The console: the web page genq serves at ``/``, with its assets under ``/console/``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from genq.settings import Settings
from genq.storage import FileStorage


def console_routes(settings: Settings, storage: FileStorage) -> list[BaseRoute]:
    """The page and its assets."""
    return []
