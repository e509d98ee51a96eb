"""The vendor dialects genq speaks: the one list of them. Each is a package of
``genq.http.dialects`` exporting a ``Dialect``; its name is the key of its ``[dialects.NAME]``
table, and its default aliases join the default alias table.

Importing this module imports no routes: ``genq.settings`` builds its ``dialects`` table from
it. ``dialect_routers`` imports the routes of the dialects left on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genq.http.dialects import (
    fal,
    mindvideo,
    netmind,
    netmind_legacy,
    oxen,
    replicate,
    runpod,
    segmind,
)
from genq.http.dialects.dialect import Dialect, default_aliases

if TYPE_CHECKING:
    from genq.http.routing import Router
    from genq.settings import Settings

DIALECTS: tuple[Dialect[Any], ...] = (
    netmind.DIALECT,
    netmind_legacy.DIALECT,
    mindvideo.DIALECT,
    oxen.DIALECT,
    segmind.DIALECT,
    replicate.DIALECT,
    fal.DIALECT,
    runpod.DIALECT,
)

#: Every model slug the vendors' documents and clients name, mapped to the demo model closest
#: to it, or to the first configured model of a task (``openai/whisper``: speech to text).
DEFAULT_ALIASES = default_aliases(DIALECTS)


def dialect_routers(settings: Settings) -> list[Router]:
    """The routers of every dialect the settings leave on. Their routes read their dialect's
    settings from ``app.state.dialects``."""
    return [dialect.router() for dialect in DIALECTS if settings.dialects[dialect.name].enabled]
