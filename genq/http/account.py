"""The caller's account through the native API: its keys, its usage, and for an admin
account every account; and the console's one-time sign-in."""

from __future__ import annotations

from genq.http.routing import Router

router = Router("/v1", tags=["Account"])
