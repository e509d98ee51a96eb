"""Webhooks through the native API: the account's endpoints and signing secrets."""

from __future__ import annotations

from genq.http.routing import Router

router = Router("/v1", tags=["Webhooks"])
