"""Webhooks through the native API: the account's default signing secret, the endpoints it
registers (``/v1/webhooks``), the calls made for its jobs and sending one again; and the
dispatcher that sends the outbox (``genq.service.outbox``), run by the server with jobs
rendered as ``GET /v1/jobs/{id}`` shows them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from genq.http.account import parse_body
from genq.http.auth import Auth
from genq.http.cursors import decode_position, encode_position
from genq.http.dialects.registry import DIALECTS
from genq.http.links import Links
from genq.http.native import WebhookEventName
from genq.http.openapi import BODY, CALLER, Error, native_errors
from genq.http.render import isotime, render_job
from genq.http.responses import JSONResponse
from genq.http.routing import Header, Path, Query, Router
from genq.jobs import DeliveryRecord, DeliveryState, JobRecord, WebhookEndpoint
from genq.limits import check_param
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


WEBHOOK_ID = Path(description="The endpoint's id (`wh_...`).", max_length=100)
DELIVERY_ID = Path(description="The call's id (`msg_...`): its webhook-id.", max_length=100)
#: Most calls one page of ``GET /v1/webhooks/deliveries`` lists.
MAX_DELIVERIES_PAGE = 500


ModelName = Annotated[str, Field(min_length=1, max_length=200)]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="An https URL to call (POST, signed per Standard Webhooks with this "
        "endpoint's secret); http only where the server allows it. Loopback and private "
        "addresses are refused.",
        examples=["https://example.com/genq-webhook"],
    )
    events: list[WebhookEventName] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="What to call it for: start, progress (the latest, not every step), "
        'output, completed. Default: ["completed"].',
    )
    models: list[ModelName] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only jobs of these models (an alias stands for its model). Default: "
        "every model.",
    )
    description: str | None = Field(
        default=None, max_length=500, description="A note of yours, shown in lists."
    )


def render_endpoint(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    """An endpoint; its secret only when ``secret`` (made or rotated now)."""
    body: dict[str, Any] = {
        "object": "webhook",
        "id": endpoint.id,
        "url": endpoint.url,
        "events": [event.value for event in endpoint.events],
        "models": None if endpoint.models is None else list(endpoint.models),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_at": isotime(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "created_at": isotime(endpoint.created_at),
    }
    if secret:
        body["secret"] = endpoint.secret
    return body


def render_call(delivery: DeliveryRecord) -> dict[str, Any]:
    """One webhook call in full, as the account's list of calls shows it."""
    return {
        "object": "webhook_delivery",
        "id": delivery.id,
        "job_id": delivery.job_id,
        "webhook_id": delivery.endpoint_id,
        "event": delivery.event.value,
        "url": delivery.url,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": isotime(delivery.created_at),
        "next_attempt_at": isotime(delivery.next_at)
        if delivery.state is DeliveryState.PENDING
        else None,
        "finished_at": isotime(delivery.finished_at),
    }


NOT_FOUND = {404: {"model": Error, "description": "No endpoint with that id in the account."}}


@router.post(
    "/webhooks",
    status_code=201,
    summary="Register a webhook endpoint",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": NewWebhook.model_json_schema()}},
        }
    },
    responses={
        200: {"description": "The endpoint an earlier request with this Idempotency-Key made."},
        **native_errors(*CALLER, *BODY),
        409: {
            "model": Error,
            "description": "The account has 50 endpoints (`too_many_webhooks`), or the "
            "Idempotency-Key was used with another request (`idempotency_conflict`).",
        },
    },
)
async def create_webhook(
    request: Request,
    caller: Auth,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """An endpoint called for the account's jobs (of every model, or of ``models``) on
    ``events``. Its ``secret`` (``whsec_...``) is shown this once: verify each call with it
    as the Standard Webhooks specification says (``genq.webhooks.verify`` in the client).
    At most 50 per account (409 past that). A receiver answering 410 Gone
    disables its endpoint. The same ``Idempotency-Key`` with the same body answers the
    endpoint it made (200, with its secret); with another body, 409."""
    body = parse_body(NewWebhook, await request.body(), caller.svc.max_json_depth)
    endpoint, created = await caller.svc.add_endpoint(
        caller.account_id,
        body.url,
        body.events,
        body.models,
        body.description,
        (idempotency_key or "").strip() or None,
    )
    return JSONResponse(render_endpoint(endpoint, secret=True), status_code=201 if created else 200)


@router.get(
    "/webhooks", summary="List the account's webhook endpoints", responses=native_errors(*CALLER)
)
async def list_webhooks(caller: Auth) -> Response:
    """Oldest first; never their secrets."""
    endpoints = await caller.svc.endpoints(caller.account_id)
    return JSONResponse({"object": "list", "data": [render_endpoint(e) for e in endpoints]})


@router.get(
    "/webhooks/deliveries",
    summary="List the calls made for the account's jobs, newest first",
    responses=native_errors(*CALLER, 422),
)
async def list_deliveries(
    caller: Auth,
    job_id: str | None = Query(None, description="Only the calls for this job.", max_length=100),
    webhook_id: str | None = Query(
        None,
        description="Only the calls of this endpoint (`wh_...`).",
        max_length=100,
    ),
    state: DeliveryState | None = Query(None, description="Only calls in this state."),
    limit: int = Query(50, ge=1, le=MAX_DELIVERIES_PAGE),
    cursor: str | None = Query(
        None, description="next_cursor from the previous page.", max_length=100
    ),
) -> Response:
    """Both the calls of jobs' own webhooks (``webhook_id`` null) and those of the account's
    endpoints, with each call's state, attempts and the receiver's last answer."""
    check_param(job_id, "job_id")
    check_param(webhook_id, "webhook_id")
    calls = await caller.svc.list_deliveries(
        caller.account_id,
        job_id=job_id,
        endpoint_id=webhook_id,
        state=state,
        before=decode_position(cursor) if cursor else None,
        limit=limit + 1,
    )
    more = len(calls) > limit
    calls = calls[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": [render_call(c) for c in calls],
            "next_cursor": encode_position(calls[-1].created_at, calls[-1].id) if more else None,
        }
    )


@router.post(
    "/webhooks/deliveries/{delivery_id}/redeliver",
    summary="Send a webhook call again",
    responses={
        **native_errors(*CALLER, 422),
        404: {"model": Error, "description": "No such call for the account's jobs."},
        409: {
            "model": Error,
            "description": "Its endpoint was deleted or is disabled (`webhook_disabled`).",
        },
    },
)
async def redeliver(caller: Auth, delivery_id: str = DELIVERY_ID) -> Response:
    """A delivered or failed call is sent again, with the same ``webhook-id`` (a receiver
    that kept it drops it) and a new retry window; one still pending stays as it is. 409
    when its endpoint was deleted or is disabled."""
    call = await caller.svc.redeliver(delivery_id, caller.account_id)
    return JSONResponse(render_call(call))


@router.get(
    "/webhooks/{webhook_id}",
    summary="Get a webhook endpoint",
    responses={**native_errors(*CALLER, 422), **NOT_FOUND},
)
async def get_webhook(caller: Auth, webhook_id: str = WEBHOOK_ID) -> Response:
    endpoint = await caller.svc.endpoint(webhook_id, caller.account_id)
    return JSONResponse(render_endpoint(endpoint))


@router.delete(
    "/webhooks/{webhook_id}",
    summary="Delete a webhook endpoint",
    responses={**native_errors(*CALLER, 422), **NOT_FOUND},
)
async def delete_webhook(caller: Auth, webhook_id: str = WEBHOOK_ID) -> Response:
    """Its calls not yet sent fail; those sent stay listed."""
    await caller.svc.delete_endpoint(webhook_id, caller.account_id)
    return JSONResponse({"object": "webhook", "id": webhook_id, "deleted": True})


@router.post(
    "/webhooks/{webhook_id}/disable",
    summary="Disable a webhook endpoint",
    responses={**native_errors(*CALLER, 422), **NOT_FOUND},
)
async def disable_webhook(caller: Auth, webhook_id: str = WEBHOOK_ID) -> Response:
    """It is called for no change from now on, and its calls not yet sent fail."""
    endpoint = await caller.svc.set_endpoint_enabled(webhook_id, caller.account_id, False)
    return JSONResponse(render_endpoint(endpoint))


@router.post(
    "/webhooks/{webhook_id}/enable",
    summary="Enable a webhook endpoint again",
    responses={**native_errors(*CALLER, 422), **NOT_FOUND},
)
async def enable_webhook(caller: Auth, webhook_id: str = WEBHOOK_ID) -> Response:
    """Called for the changes from now on (a receiver's 410 Gone disabled it, or its
    account did); send a missed call again with ``POST /v1/webhooks/deliveries/{id}/redeliver``."""
    endpoint = await caller.svc.set_endpoint_enabled(webhook_id, caller.account_id, True)
    return JSONResponse(render_endpoint(endpoint))


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    summary="Give a webhook endpoint a new secret",
    responses={**native_errors(*CALLER, 422), **NOT_FOUND},
)
async def rotate_secret(caller: Auth, webhook_id: str = WEBHOOK_ID) -> Response:
    """The new ``secret`` is shown this once. For 24 hours each call carries a signature with
    the old secret too, so that the receiver can switch meanwhile. Rotated again within those
    24 hours, the secret from before the first rotation keeps signing, the one in between
    does not."""
    endpoint = await caller.svc.rotate_endpoint_secret(webhook_id, caller.account_id)
    return JSONResponse(render_endpoint(endpoint, secret=True))


def server_url(settings: Settings) -> str:
    """Where the links in a webhook's body point: ``public_url``, else the server's own
    address (a wildcard bind address as loopback)."""
    if settings.public_url:
        return settings.public_url
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(settings.host)
    if host is None:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{settings.scheme}://{host}:{settings.port}"


async def dispatch_webhooks(service: JobService, settings: Settings) -> None:
    """Send the store's due webhook calls until canceled (``genq.service.outbox``)."""
    base_url = server_url(settings)
    links = Links(service.storage, base_url, service.link_expiry)

    bodies = {
        dialect.name: body
        for dialect in DIALECTS
        if (body := dialect.webhook_renderer()) is not None
    }

    async def render(job: JobRecord, delivery: DeliveryRecord) -> dict[str, Any]:
        """A job's own webhook set through a dialect with its own body gets that; the
        account's endpoints, and every other call, the job as genq shows it."""
        if delivery.endpoint_id is None and job.origin is not None:
            dialect_body = bodies.get(job.origin.api)
            if dialect_body is not None:
                return await dialect_body(service, job, delivery.event, base_url, links)
        return {**render_job(job, base_url, links.outputs(job)), "event": delivery.event.value}

    await dispatch_forever(service.store, settings, render, service.notifier)
