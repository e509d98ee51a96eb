"""Replicate's HTTP API (the parts its client calls for predictions), served under
``/replicate``: a client sets ``REPLICATE_BASE_URL=http://HOST:PORT/replicate`` and keeps its
``/v1/...`` paths, which then never meet genq's own ``/v1`` routes or another dialect's.

- Predictions: ``POST /v1/models/{owner}/{name}/predictions`` (and the same for a deployment
  of that name), ``POST /v1/predictions`` with a ``version``; ``GET /v1/predictions`` (the
  caller's predictions made here, newest first, by cursor), ``GET /v1/predictions/{id}``,
  ``POST /v1/predictions/{id}/cancel``, and ``GET /v1/predictions/{id}/stream``: server-sent
  ``output``, ``logs``, ``error`` and ``done`` events.
- Models and versions: ``GET /v1/models``, ``/v1/models/{owner}/{name}`` and its
  ``versions`` (``catalog``).
- Files: ``POST /v1/files`` and the rest (``files``). An input naming the caller's own upload
  gets the file's bytes inline (a ``data:`` URI): the job never fetches a link to genq itself.
- ``GET /v1/webhooks/default/secret``: the key that signs the calls to a prediction's
  ``webhook`` (Standard Webhooks, as Replicate signs them), and ``GET /v1/account``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from genq.errors import Clash, Missing, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.cursors import decode_cursor, encode_cursor
from genq.http.dialects.base import (
    dialect_router,
    json_body,
    json_object,
    origin_request,
    own_job,
    submit_translated,
)
from genq.http.dialects.replicate import DIALECT, files
from genq.http.dialects.replicate.catalog import Entry, catalog, find, find_version
from genq.http.dialects.replicate.errors import errors, render_error
from genq.http.dialects.replicate.files import inline_uploads
from genq.http.dialects.replicate.predictions import PREFIX, api_root, settings_of, view_of
from genq.http.openapi import CALLER, EVENT_STREAM, SUBMIT, json_request
from genq.http.responses import EventStream, JSONResponse
from genq.http.routing import Header, Query
from genq.http.routing import Path as PathParam
from genq.jobs import EventType, JobRecord, Status, WebhookEvent
from genq.service import MAX_PAGE, JobFilter

API = DIALECT.name
#: Longest a create waits for its prediction (``Prefer: wait``), as Replicate allows.
MAX_WAIT = 60
#: Replicate's webhook events, as genq's: ``logs`` come with the model's progress.
WEBHOOK_EVENTS = {
    "start": WebhookEvent.START,
    "output": WebhookEvent.OUTPUT,
    "logs": WebhookEvent.PROGRESS,
    "completed": WebhookEvent.COMPLETED,
}
#: Sent whatever the filter says, as Replicate does.
ALWAYS_SENT = ("start", "completed")

router = dialect_router(render_error, DIALECT.title)
# The file routes, declared in their own module with the same error shape and tag.
router.operations.extend(files.router.operations)

PREDICTION_ID = PathParam(description="The prediction's id.", max_length=100)
OWNER = PathParam(description="The model's owner: `genq` for genq's own models.", examples=["genq"])
NAME = PathParam(description="The model's name.", examples=["demo-image"])
PREFER = Header(
    description="`wait` (up to 60 s) or `wait=N` (1-60): answer once the prediction ends or "
    "N s pass. A wait that runs out answers status `starting`."
)

CREATE_FIELDS: dict[str, Any] = {
    "input": {"type": "object", "description": "The model's input (its version's Input)."},
    "stream": {"type": "boolean", "description": "Give urls.stream (always for text models)."},
    "webhook": {"type": "string", "description": "An https URL called with the prediction."},
    "webhook_completed": {"type": "string", "description": "Called once it ends (older)."},
    "webhook_events_filter": {
        "type": "array",
        "items": {"enum": list(WEBHOOK_EVENTS)},
        "description": "start, output, logs, completed; start and completed are always sent.",
    },
}
MODEL_CREATE = {"type": "object", "properties": CREATE_FIELDS}
VERSION_CREATE = {
    "type": "object",
    "required": ["version"],
    "properties": {
        "version": {
            "type": "string",
            "description": "A version id, owner/name, or owner/name:id.",
        },
        **CREATE_FIELDS,
    },
}


# -- predictions --------------------------------------------------------------------------
@router.post(
    f"{PREFIX}/v1/models/{{owner}}/{{name}}/predictions",
    status_code=201,
    summary="Replicate: create a prediction of a model",
    responses=errors(*CALLER, *SUBMIT),
    openapi_extra=json_request(MODEL_CREATE),
)
async def create_model_prediction(
    request: Request,
    caller: Auth,
    owner: str = OWNER,
    name: str = NAME,
    prefer: Annotated[str | None, PREFER] = None,
) -> Response:
    """The model's latest (only) version runs the input. ``Prefer: wait`` holds the answer
    until the prediction ends or the wait runs out."""
    entry = find(caller.svc, settings_of(caller).owner, owner, name)
    return await create(request, caller, entry, prefer)


@router.post(
    f"{PREFIX}/v1/deployments/{{owner}}/{{name}}/predictions",
    status_code=201,
    summary="Replicate: create a prediction of a deployment",
    responses=errors(*CALLER, *SUBMIT),
    openapi_extra=json_request(MODEL_CREATE),
)
async def create_deployment_prediction(
    request: Request,
    caller: Auth,
    owner: str = OWNER,
    name: str = NAME,
    prefer: Annotated[str | None, PREFER] = None,
) -> Response:
    """A deployment is named as a model is: ``owner/name`` runs that model."""
    entry = find(caller.svc, settings_of(caller).owner, owner, name)
    return await create(request, caller, entry, prefer)


@router.post(
    f"{PREFIX}/v1/predictions",
    status_code=201,
    summary="Replicate: create a prediction of a version",
    responses=errors(*CALLER, *SUBMIT),
    openapi_extra=json_request(VERSION_CREATE),
)
async def create_prediction(
    request: Request, caller: Auth, prefer: Annotated[str | None, PREFER] = None
) -> Response:
    """``version`` is a version id (as ``GET /v1/models/{owner}/{name}`` shows it),
    ``owner/name`` or ``owner/name:id``."""
    body = json_object(await json_body(request), "body")
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise ValidationFailed.at("version", "required: a version id or owner/name")
    entry = find_version(caller.svc, settings_of(caller).owner, version)
    return await create(request, caller, entry, prefer, body)


async def create(
    request: Request,
    caller: Caller,
    entry: Entry,
    prefer: str | None,
    body: dict[str, Any] | None = None,
) -> Response:
    if body is None:
        body = json_object(await json_body(request), "body")
    wait = preferred_wait(prefer)
    given = json_object(body.get("input", {}), "input")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ValidationFailed.at("stream", "must be true or false")
    webhook, events = webhook_of(body)
    kept = {
        "model": entry.slug,
        "version": entry.version,
        "input": given,
        "stream": stream,
        "output": entry.output_kind,
    }
    job, _ = await submit_translated(
        caller,
        API,
        entry.target,
        await inline_uploads(caller, given),
        request=kept,
        root="input",
        webhook=webhook,
        webhook_events=events,
    )
    shown = None
    if wait is not None and not job.terminal:
        job = await caller.svc.wait(caller.account_id, job.id, wait)
        if not job.terminal:
            # A wait that runs out answers "starting" even for a running prediction: the
            # client takes any other status after a waited create for the end, and would
            # return no output (replicate/run.py). It polls on, and sees "processing" then.
            shown = "starting"
    body = await view_of(caller).prediction(job, status=shown)
    return JSONResponse(body, status_code=201)


def preferred_wait(prefer: str | None) -> float | None:
    """Seconds ``Prefer: wait`` (the most) or ``wait=N`` (1 to 60) asks for; None: no wait."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        if not value.strip():
            return float(MAX_WAIT)
        text = value.strip().strip('"')
        if not (text.isdigit() and 1 <= int(text) <= MAX_WAIT):
            raise ValidationFailed.at(
                "header/Prefer", f"wait must be a whole number of seconds from 1 to {MAX_WAIT}"
            )
        return float(text)
    return None


def webhook_of(body: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    """The prediction's webhook and the genq events it is called on."""
    webhook, completed = body.get("webhook"), body.get("webhook_completed")
    for field, value in (("webhook", webhook), ("webhook_completed", completed)):
        if value is not None and not isinstance(value, str):
            raise ValidationFailed.at(field, "must be a URL")
    wanted = body.get("webhook_events_filter")
    if wanted is not None and not (
        isinstance(wanted, list) and all(isinstance(w, str) and w in WEBHOOK_EVENTS for w in wanted)
    ):
        raise ValidationFailed.at(
            "webhook_events_filter", f"must be a list of {', '.join(WEBHOOK_EVENTS)}"
        )
    if webhook is None:
        if completed is None:
            return None, None
        # The older field: one call, once the prediction ends.
        return completed, [WebhookEvent.COMPLETED.value]
    if completed is not None and completed != webhook:
        raise ValidationFailed.at(
            "webhook_completed",
            "genq calls one webhook per prediction: give webhook and webhook_events_filter",
        )
    names = set(WEBHOOK_EVENTS) if wanted is None else {*wanted, *ALWAYS_SENT}
    return webhook, [WEBHOOK_EVENTS[name].value for name in WEBHOOK_EVENTS if name in names]


async def find_prediction(caller: Caller, prediction_id: str) -> JobRecord:
    try:
        return await own_job(caller, prediction_id, API)
    except Missing:
        raise Missing(
            f"prediction {prediction_id} not found", code="prediction_not_found"
        ) from None


@router.get(
    f"{PREFIX}/v1/predictions",
    summary="Replicate: list the caller's predictions, newest first",
    responses=errors(*CALLER, 422),
)
async def list_predictions(
    caller: Auth,
    cursor: str | None = Query(None, description="From the previous page's next.", max_length=100),
    limit: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE, description="Predictions per page."),
) -> Response:
    """``{results, next, previous}``: ``next`` is the URL of the next page (null at the end);
    ``previous`` is always null. Each prediction's logs are left out."""
    jobs, next_seq = await caller.svc.list_jobs(
        caller.account_id,
        limit=limit,
        before=decode_cursor(cursor) if cursor else None,
        origin_api=API,
    )
    view = view_of(caller)
    results = [await view.prediction(job, brief=True) for job in jobs]
    following = None
    if next_seq is not None:
        page = f"&limit={limit}" if limit != MAX_PAGE else ""
        following = f"{view.root}/v1/predictions?cursor={encode_cursor(next_seq)}{page}"
    return JSONResponse({"results": results, "next": following, "previous": None})


@router.get(
    f"{PREFIX}/v1/predictions/{{prediction_id}}",
    summary="Replicate: get a prediction",
    responses=errors(*CALLER, 404, 422),
)
async def get_prediction(caller: Auth, prediction_id: str = PREDICTION_ID) -> Response:
    job = await find_prediction(caller, prediction_id)
    return JSONResponse(await view_of(caller).prediction(job))


@router.post(
    f"{PREFIX}/v1/predictions/{{prediction_id}}/cancel",
    summary="Replicate: cancel a prediction",
    responses=errors(*CALLER, 404, 422),
)
async def cancel_prediction(caller: Auth, prediction_id: str = PREDICTION_ID) -> Response:
    """A starting prediction is canceled at once, a processing one at its model's next step;
    one that has ended is answered as it is."""
    job = await find_prediction(caller, prediction_id)
    with contextlib.suppress(Clash):  # it ended first
        job = await caller.svc.cancel(caller.account_id, job.id)
    return JSONResponse(await view_of(caller).prediction(job))


@router.get(
    f"{PREFIX}/v1/predictions/{{prediction_id}}/stream",
    summary="Replicate: stream a prediction's output (server-sent events)",
    answers_json=False,
    responses={**EVENT_STREAM, **errors(*CALLER, 404, 422)},
)
async def stream_prediction(
    caller: Auth,
    prediction_id: str = PREDICTION_ID,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> EventStream:
    """``output`` events (a text model's text as it is written, each streamed value, each
    file's URL), ``logs`` (each log line), then ``error`` (a failure's message) and ``done``
    (``{}``, or ``{"reason": "canceled"}`` or ``"error"``), after which the stream ends.
    Resumable with ``Last-Event-ID``."""
    job = await find_prediction(caller, prediction_id)
    svc, links = caller.svc, caller.links
    kind = origin_request(job).get("output")
    events = await svc.events(caller.account_id, job.id, event_after(last_event_id))

    async def frames() -> AsyncIterator[ServerSentEvent]:
        async for event in events:
            at = str(event.id)
            if event.type is EventType.TEXT:
                yield ServerSentEvent(event.data.get("delta", ""), event="output", id=at)
            elif event.type is EventType.PARTIAL:
                value = event.data.get("value")
                text = value if isinstance(value, str) else orjson.dumps(value).decode()
                yield ServerSentEvent(text, event="output", id=at)
            elif event.type is EventType.LOG:
                yield ServerSentEvent(event.data.get("message", ""), event="logs", id=at)
            elif event.type is EventType.OUTPUT and kind != "text":
                try:
                    current = await svc.get(caller.account_id, job.id)
                except Missing:  # deleted while followed
                    return
                yield ServerSentEvent(links.file(current, event.data["key"]), event="output", id=at)
            elif event.type is EventType.STATUS and Status(event.data["status"]).terminal:
                async for frame in ending(caller, job.id, kind, at):
                    yield frame
                return

    return EventStream(frames())


async def ending(
    caller: Caller, job_id: str, kind: str | None, at: str
) -> AsyncIterator[ServerSentEvent]:
    """The last events of a stream: a text model's text if it streamed none, the error of a
    failure, and ``done``."""
    try:
        job = await caller.svc.get(caller.account_id, job_id)
    except Missing:
        return
    streamed = kind != "text" or (await caller.svc.transcript(job)).text
    if job.status is Status.SUCCEEDED and not streamed:
        text = await caller.svc.output_text(job)
        if text:
            yield ServerSentEvent(text, event="output", id=at)
    reason: dict[str, str] = {}
    if job.status in (Status.FAILED, Status.EXPIRED):
        message = job.error.message if job.error is not None else "the prediction failed"
        yield ServerSentEvent(message, event="error", id=at)
        reason = {"reason": "error"}
    elif job.status is Status.CANCELED:
        reason = {"reason": "canceled"}
    yield ServerSentEvent(orjson.dumps(reason).decode(), event="done", id=at)


def event_after(last_event_id: str | None) -> int:
    text = (last_event_id or "").strip()
    if not text:
        return 0
    if not text.isdigit() or len(text) > 18:
        raise ValidationFailed.at("header/Last-Event-ID", "not an event id of this stream")
    return int(text)


# -- models and versions ------------------------------------------------------------------
@router.get(
    f"{PREFIX}/v1/models",
    summary="Replicate: list the models",
    responses=errors(*CALLER),
)
async def list_models(caller: Auth) -> Response:
    """genq's models under the dialect's owner, and every alias, on one page."""
    root = api_root(caller)
    entries = catalog(caller.svc, settings_of(caller).owner)
    results = [entry.model_object(root, await run_count(caller, entry)) for entry in entries]
    return JSONResponse({"results": results, "next": None, "previous": None})


async def run_count(caller: Caller, entry: Entry) -> int:
    """The caller's own predictions of the model, by the name it has here."""
    where = JobFilter(origin_api=API, origin_model=entry.target)
    _, runs = await caller.svc.page_jobs(caller.account_id, where, page_size=1)
    return runs


@router.get(
    f"{PREFIX}/v1/models/{{owner}}/{{name}}",
    summary="Replicate: get a model",
    responses=errors(*CALLER, 404),
)
async def get_model(caller: Auth, owner: str = OWNER, name: str = NAME) -> Response:
    """With its ``latest_version``; ``run_count`` counts the caller's own predictions of it."""
    entry = find(caller.svc, settings_of(caller).owner, owner, name)
    return JSONResponse(entry.model_object(api_root(caller), await run_count(caller, entry)))


@router.get(
    f"{PREFIX}/v1/models/{{owner}}/{{name}}/versions",
    summary="Replicate: list a model's versions",
    responses=errors(*CALLER, 404),
)
async def list_versions(caller: Auth, owner: str = OWNER, name: str = NAME) -> Response:
    """A genq model has one version: the one its name and input schema make."""
    entry = find(caller.svc, settings_of(caller).owner, owner, name)
    return JSONResponse({"results": [entry.version_object()], "next": None, "previous": None})


@router.get(
    f"{PREFIX}/v1/models/{{owner}}/{{name}}/versions/{{version_id}}",
    summary="Replicate: get a model's version",
    responses=errors(*CALLER, 404),
)
async def get_version(
    caller: Auth, owner: str = OWNER, name: str = NAME, version_id: str = PathParam()
) -> Response:
    """Its ``openapi_schema`` has the ``Input`` a prediction's input meets and the
    ``Output`` it gives."""
    entry = find(caller.svc, settings_of(caller).owner, owner, name)
    if version_id != entry.version:
        raise Missing(f"version {version_id} of {entry.slug} not found", code="version_not_found")
    return JSONResponse(entry.version_object())


# -- the account and its webhook secret ----------------------------------------------------
@router.get(
    f"{PREFIX}/v1/webhooks/default/secret",
    summary="Replicate: the secret that signs webhook calls",
    responses=errors(*CALLER),
)
async def default_webhook_secret(caller: Auth) -> Response:
    """``{"key": "whsec_..."}``: verify each call to a prediction's webhook with it, as the
    Standard Webhooks specification says (the client's ``Webhooks.validate`` does)."""
    return JSONResponse({"key": await caller.svc.default_webhook_secret(caller.account_id)})


@router.get(
    f"{PREFIX}/v1/account", summary="Replicate: the caller's account", responses=errors(*CALLER)
)
async def get_account(caller: Auth) -> Response:
    name = caller.key.account_name
    return JSONResponse({"type": "user", "username": name, "name": name, "github_url": None})
