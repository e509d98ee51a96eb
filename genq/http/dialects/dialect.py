"""What a vendor dialect is, without its routes: a name, settings, default aliases, and where
its routes live. ``genq.settings`` and ``genq.models.aliases`` read the registered dialects
through this module, so it imports no web framework and nothing of the service."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from genq.http.links import Links
    from genq.http.routing import Router
    from genq.jobs import JobRecord, WebhookEvent
    from genq.service import JobService

    #: A dialect's webhook body: (service, job, event, base_url, links to the job's files).
    WebhookBody = Callable[
        [JobService, JobRecord, WebhookEvent, str, Links], Awaitable[dict[str, Any]]
    ]


class DialectSettings(BaseModel):
    """One vendor dialect: on or off, and how long its jobs live (None: ``retention_seconds``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    retention_seconds: float | None = Field(default=None, gt=0)


S = TypeVar("S", bound=DialectSettings)


@dataclass(frozen=True)
class Dialect(Generic[S]):
    """One vendor's API, as its package declares it."""

    #: The key of its ``[dialects.NAME]`` table, and its jobs' origin.
    name: str
    #: The vendor's name for people: the OpenAPI tag of its routes.
    title: str
    settings_model: type[S]
    #: The model slugs the vendor's documents use, as ``[aliases]`` entries.
    default_aliases: Mapping[str, Mapping[str, Any]]
    #: The module whose ``router`` holds the routes: imported only when they are mounted.
    routes: str
    #: The body of the calls to a webhook set through the dialect, as the vendor sends them:
    #: ``"module:function"``, an async ``function(service, job, event, base_url, links)``
    #: returning the JSON object (``genq.http.webhooks.dispatch_webhooks``). None: genq's own
    #: body (the job, and ``event``).
    webhook_body: str | None = None

    def router(self) -> Router:
        router: Router = importlib.import_module(self.routes).router
        return router

    def webhook_renderer(self) -> WebhookBody | None:
        if self.webhook_body is None:
            return None
        module, _, name = self.webhook_body.partition(":")
        render: WebhookBody = getattr(importlib.import_module(module), name)
        return render


class DialectTable(BaseModel):
    """The ``[dialects.NAME]`` tables: one field per registered dialect, named by it."""

    model_config = ConfigDict(extra="forbid")

    def __getitem__(self, name: str) -> DialectSettings:
        if name not in type(self).model_fields:
            raise KeyError(name)
        settings: DialectSettings = getattr(self, name)
        return settings


def dialect_table(dialects: tuple[Dialect[Any], ...]) -> type[DialectTable]:
    """The settings model of the dialects' tables, each typed by its dialect's settings."""
    fields: dict[str, Any] = {
        dialect.name: (dialect.settings_model, Field(default_factory=dialect.settings_model))
        for dialect in dialects
    }
    table: type[DialectTable] = create_model(
        "Dialects",
        __base__=DialectTable,
        __module__="genq.settings",
        __doc__="The vendor API dialects (``[dialects.NAME]`` tables); all on by default.",
        **fields,
    )
    return table


def default_aliases(dialects: tuple[Dialect[Any], ...]) -> dict[str, dict[str, Any]]:
    """Every dialect's default aliases in one table; two dialects may name the same slug only
    for the same model."""
    table: dict[str, dict[str, Any]] = {}
    for dialect in dialects:
        for slug, entry in dialect.default_aliases.items():
            if slug in table and table[slug] != entry:
                raise ValueError(f"default alias {slug!r}: dialects disagree on it")
            table[slug] = dict(entry)
    return table
