"""``/metrics``: genq's figures in the Prometheus text format."""

from __future__ import annotations

from genq.http.routing import Router

router = Router()
