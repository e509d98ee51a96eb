"""Webhooks through the native API: the account's endpoints and signing secrets, and the
dispatcher that sends the outbox (``genq.service.outbox``), run by the server with jobs
rendered as ``GET /v1/jobs/{id}`` shows them."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from genq.http.auth import Auth
from genq.http.links import Links
from genq.http.openapi import CALLER, native_errors
from genq.http.render import render_job
from genq.http.responses import JSONResponse
from genq.http.routing import Router
from genq.jobs import JobRecord
from genq.service import JobService
from genq.service.outbox import dispatch_forever
from genq.settings import Settings

router = Router("/v1", tags=["Webhooks"])


@router.get(
    "/webhooks/default/secret",
    summary="The account's default webhook signing secret",
    responses=native_errors(*CALLER),
)
async def default_secret(caller: Auth) -> Response:
    """``{"key": "whsec_..."}``: the secret that signs the calls of the webhooks named on
    jobs (``POST /v1/jobs`` with ``webhook``), made on first use. Verify a call with it as
    the Standard Webhooks specification says (``genq.webhooks.verify`` in the client)."""
    return JSONResponse({"key": await caller.svc.default_webhook_secret(caller.account_id)})


def server_url(settings: Settings) -> str:
    """Where the links in a webhook's body point: ``public_url``, else the server's own
    address (a wildcard bind address as loopback)."""
    if settings.public_url:
        return settings.public_url
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(settings.host)
    if host is None:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


async def dispatch_webhooks(service: JobService, settings: Settings) -> None:
    """Send the store's due webhook calls until canceled (``genq.service.outbox``)."""
    base_url = server_url(settings)
    links = Links(service.storage, base_url, service.link_expiry)

    def render(job: JobRecord) -> dict[str, Any]:
        return render_job(job, base_url, links.outputs(job))

    await dispatch_forever(service.store, settings, render, service.notifier)
