"""``/metrics``: genq's figures (``genq.metrics``) in the Prometheus text format.

Open to loopback clients, to the networks of the ``metrics_allow`` setting, and to admin
keys. Behind a reverse proxy on the same host every client is a loopback one: there, keep
the proxy from passing ``/metrics`` on, or have it ask for a key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric
from starlette.requests import Request
from starlette.responses import Response

from genq import metrics
from genq.errors import Forbidden
from genq.http.auth import identified, raw_api_key
from genq.http.openapi import native_errors
from genq.http.routing import Router
from genq.service import JobService
from genq.service.readiness import Workers

router = Router()

TEXT = {
    200: {
        "description": "The figures, in the Prometheus text format (version 0.0.4).",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


class Scrape:
    """Every figure of this process, with the queue's as the store has it now and its
    workers as the supervisor counts them; without workers, none of what only they see."""

    def __init__(self, depths: dict[str, tuple[int, float]], workers: Workers | None) -> None:
        self.depths = depths
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        yield from metrics.served(api=True, workers=self.workers is not None)
        yield from metrics.queue_figures(self.depths)
        if self.workers is not None:
            yield from metrics.worker_figures(self.workers.alive, self.workers.busy)


async def allowed(request: Request) -> None:
    """Let loopback clients, those of ``metrics_allow`` and admin keys through; else 403."""
    svc: JobService = request.app.state.service
    client = request.scope.get("client")
    try:
        address = ipaddress.ip_address(client[0]) if client else None
    except ValueError:  # a Unix socket's peer, or a test client's name
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is not None and (
        address.is_loopback or any(address in net for net in svc.settings.metrics_allow)
    ):
        return
    if raw_api_key(request) is None:
        raise Forbidden("/metrics answers loopback clients, metrics_allow and admin keys")
    caller = await identified(request)
    await svc.require_admin(caller.key)


@router.get(
    "/metrics",
    summary="genq's figures for Prometheus",
    answers_json=False,
    responses={**TEXT, **native_errors(401, 403)},
)
async def scrape(request: Request) -> Response:
    """Jobs submitted and finished, queue depth and age, wait and run times, worker and
    model figures, in the Prometheus text format. Answers loopback clients, the networks of
    the ``metrics_allow`` setting, and admin keys (403 otherwise)."""
    await allowed(request)
    svc: JobService = request.app.state.service
    depths = await svc.queue_depths()
    census: Callable[[], Workers] | None = getattr(request.app.state, "workers", None)
    workers = None if census is None else census()
    return Response(generate_latest(Scrape(depths, workers)), media_type=CONTENT_TYPE_LATEST)
