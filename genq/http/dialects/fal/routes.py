"""fal's queue API under ``/fal/queue`` (``FAL_QUEUE_RUN_HOST=HOST:PORT/fal/queue``) and its
synchronous run under ``/fal/run`` (``FAL_RUN_HOST=HOST:PORT/fal/run``): the two hosts of
fal's client, each a path here, so that no app id shadows another route of genq's.

``POST /fal/queue/{app}`` queues a request (``?fal_webhook=URL`` is called when it is done;
``X-Fal-Queue-Priority: low`` queues it behind the others, ``X-Fal-Request-Timeout`` is its
start deadline); ``GET .../requests/{id}/status[?logs=true]``, ``.../status/stream``,
``GET .../requests/{id}`` (the result) and ``PUT .../requests/{id}/cancel`` follow it at the
app's base, as the client calls them. ``POST /fal/run/{app}`` answers the result itself,
or, for an app path ending in ``/stream``, server-sent events of it as it is written.
Shapes: ``answers``; app ids: ``apps``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from genq.errors import Clash, Missing, ServiceError, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    dialect_router,
    dialect_settings,
    json_body,
    json_object,
    origin_request,
    own_job,
    submit_translated,
    wait_for_end,
)
from genq.http.dialects.fal import DIALECT
from genq.http.dialects.fal.answers import (
    ERROR_TYPE_HEADER,
    REQUEST_ID_HEADER,
    failure,
    queue_urls,
    result_body,
    status_body,
)
from genq.http.dialects.fal.apps import AppId, resolve
from genq.http.dialects.fal.settings import FalSettings
from genq.http.openapi import CALLER, EVENT_STREAM, MEANINGS, json_request
from genq.http.responses import EventStream, JSONResponse
from genq.http.routing import Header, Path, Query
from genq.jobs import EventType, JobRecord, Status

API = DIALECT.name
#: genq's priority for fal's two queue priorities: a low one waits behind normal ones.
PRIORITIES = {"normal": 0, "low": -1}
#: The status nginx uses for "the client closed the request": nobody reads it.
CLIENT_GONE = 499


class FalIssue(BaseModel):
    """One refused field, as fal's apps (FastAPI) name it."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(description='Where: ["body", "prompt"], ["query", "logs"].')
    msg: str
    type: str


class FalError(BaseModel):
    """fal's error shape: ``detail`` (the refused fields of an invalid request, else a
    message) and ``error_type``; a refused cancel also says the request's ``status``."""

    model_config = ConfigDict(extra="forbid")

    detail: str | list[FalIssue]
    error_type: str | None = Field(default=None, description="Machine-readable category.")
    status: str | None = Field(default=None, description="A refused cancel: ALREADY_COMPLETED.")


def render_error(exc: ServiceError) -> Response:
    if isinstance(exc, ValidationFailed):
        details = exc.details if isinstance(exc.details, list) else []
        issues = [issue(str(d.get("path", "")), str(d.get("message", ""))) for d in details]
        return JSONResponse({"detail": issues or [issue("", exc.message)]}, status_code=422)
    return error_answer(exc.status_code, exc.message, exc.code)


#: Where the submit's own settings come from in a fal request, by their genq names.
SETTING_LOCATIONS: dict[str, list[str | int]] = {
    "webhook": ["query", "fal_webhook"],
    "start_deadline": ["header", "x-fal-request-timeout"],
}


def issue(path: str, message: str) -> dict[str, Any]:
    """A refused field, its genq path (``input/width``, ``query/logs``) as a FastAPI ``loc``:
    the body of a fal request is the model's input."""
    loc: list[str | int] = [int(p) if p.isdigit() else p for p in path.split("/") if p]
    if path in SETTING_LOCATIONS:
        loc = SETTING_LOCATIONS[path]
    elif loc[:1] not in (["query"], ["header"], ["path"]):
        loc = ["body", *loc[1:]] if loc[:1] == ["input"] else ["body", *loc]
    return {"loc": loc, "msg": message, "type": "value_error"}


def error_answer(
    status: int, detail: str, error_type: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = {ERROR_TYPE_HEADER: error_type, **(headers or {})}
    return JSONResponse({"detail": detail, "error_type": error_type}, status, headers=headers)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": FalError, "description": ANSWERS[status]} for status in statuses}


#: What each of the dialect's error statuses means, where genq's meaning is not fal's.
ANSWERS = {
    **MEANINGS,
    400: "The body is not JSON; a result asked for before the request is done; a cancel "
    "of a request already done (ALREADY_COMPLETED).",
    405: "A POST to a request's own path.",
    422: "A field, parameter or header is invalid (detail lists each); a request whose "
    "model refused its input (invalid_input).",
    499: "The request was cancelled (client_cancelled).",
    500: "The model failed (runner_server_error).",
    503: "The database cannot be reached, the model cannot run here now, or a request's "
    "worker was lost (runner_disconnected): retry later.",
    504: "The request did not start before its X-Fal-Request-Timeout, or ran past its "
    "timeout (request_timeout); a run that did not finish within sync_timeout_seconds.",
}
#: How a request that ended without a result answers.
ENDINGS = (422, 499, 500, 503, 504)

router = dialect_router(render_error, DIALECT.title)

APP = Path(
    description="The app id, OWNER/NAME[/PATH]: a genq model or alias (genq/demo-image), or "
    "an alias named after a fal app.",
    examples=["fal-ai/flux/schnell"],
)
#: No example app here: a generated request naming one would wait for its result.
RUN_APP = Path(description="The app id, OWNER/NAME[/PATH], as for the queue.")
REQUEST_ID = Path(description="The request_id the submit answered.", max_length=100)
LOGS = Query(False, description="Include the model's log lines (true or 1).")
#: Submit's body: the app's arguments.
ARGUMENTS = {"type": "object", "properties": {"prompt": {"type": "string"}}}


def fal_settings(caller: Caller) -> FalSettings:
    return cast(FalSettings, dialect_settings(caller, API))


async def submit_request(
    request: Request,
    caller: Caller,
    app: AppId,
    *,
    priority: str | None,
    start_timeout: float | None,
    webhook: str | None = None,
) -> JobRecord:
    """Queue the request's arguments as a job of the model the app names."""
    fields = json_object(await json_body(request), "body")
    model = resolve(caller.svc, app, fal_settings(caller).owner)
    job, _ = await submit_translated(
        caller,
        API,
        model,
        fields,
        request={"app": app.full, "arguments": fields},
        root="",
        webhook=webhook,
        start_deadline=start_timeout,
        priority=PRIORITIES[priority or "normal"],
    )
    return job


Priority = Annotated[
    Literal["normal", "low"] | None,
    Header(description="normal (the default) or low: queued behind normal requests."),
]
StartTimeout = Annotated[
    float | None,
    Header(gt=0, description="Seconds the request may wait to start; past them it ends."),
]


@router.post(
    "/fal/queue/{app:rest}",
    summary="fal: queue a request",
    responses=errors(*CALLER, 400, 402, 403, 404, 405, 413, 422),
    openapi_extra=json_request(ARGUMENTS),
)
async def submit(
    request: Request,
    caller: Auth,
    app: str = APP,
    fal_webhook: str | None = Query(
        None, max_length=2000, description="An https URL to call when the request is done."
    ),
    x_fal_queue_priority: Priority = None,
    x_fal_request_timeout: StartTimeout = None,
) -> Response:
    app_id = AppId.parse(app)
    if app_id.path is not None and app_id.path.split("/")[0] == "requests":
        # A request's own URL, with the wrong method: not an app's path.
        return error_answer(405, "Method Not Allowed", "bad_request")
    job = await submit_request(
        request,
        caller,
        app_id,
        priority=x_fal_queue_priority,
        start_timeout=x_fal_request_timeout,
        webhook=fal_webhook,
    )
    urls = queue_urls(caller.base_url, app_id.base, job.id)
    queue = await caller.svc.queue_state(job)
    body = {
        "status": "IN_QUEUE",
        "request_id": job.id,
        **urls,
        "queue_position": 0 if queue is None else queue.position,
    }
    return JSONResponse(body, headers={REQUEST_ID_HEADER: job.id})


async def find(caller: Caller, app: str, request_id: str) -> tuple[JobRecord, dict[str, str]]:
    """The caller's request of ``app``, and its URLs; another app's is not found."""
    app_id = AppId.parse(app)
    try:
        job = await own_job(caller, request_id, API)
    except Missing:
        raise request_not_found(request_id) from None
    if AppId.parse(origin_request(job).get("app", "")).base != app_id.base:
        raise request_not_found(request_id)
    return job, queue_urls(caller.base_url, app_id.base, job.id)


def request_not_found(request_id: str) -> Missing:
    return Missing(f"Request {request_id!r} not found", code="request_not_found")


@router.get(
    "/fal/queue/{app:rest}/requests/{request_id}/status",
    summary="fal: a request's status",
    responses=errors(*CALLER, 404, 422),
)
async def status(
    caller: Auth, app: str = APP, request_id: str = REQUEST_ID, logs: bool = LOGS
) -> Response:
    """IN_QUEUE with queue_position, IN_PROGRESS, or COMPLETED with metrics (and error and
    error_type when it ended without a result); each with logs when asked for."""
    job, urls = await find(caller, app, request_id)
    body = await status_body(caller.svc, job, urls, with_logs=logs)
    return JSONResponse(body, headers={REQUEST_ID_HEADER: job.id})


@router.get(
    "/fal/queue/{app:rest}/requests/{request_id}/status/stream",
    summary="fal: follow a request's status (server-sent events)",
    answers_json=False,
    responses={**EVENT_STREAM, **errors(*CALLER, 404, 422)},
)
async def status_stream(
    caller: Auth, app: str = APP, request_id: str = REQUEST_ID, logs: bool = LOGS
) -> EventStream:
    """The status object now and at each change (a new log line too, with logs), ending
    with COMPLETED."""
    job, urls = await find(caller, app, request_id)
    svc, account_id = caller.svc, caller.account_id
    events = await svc.events(account_id, job.id)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        current: JobRecord | None = job
        sent = None
        while current is not None:
            body = await status_body(svc, current, urls, with_logs=logs)
            if body != sent:
                sent = body
                yield ServerSentEvent(data=orjson.dumps(body).decode())
            if current.terminal:
                return
            current = await next_change(caller, current.id, events, logs)

    return EventStream(stream())


async def next_change(
    caller: Caller, job_id: str, events: AsyncIterator[Any], logs: bool
) -> JobRecord | None:
    """The job after its next change of status or progress (or log line, with ``logs``);
    None once deleted or when its events end."""
    shown = {EventType.STATUS, EventType.PROGRESS} | ({EventType.LOG} if logs else set())
    async for event in events:
        if event.type in shown:
            try:
                return await caller.svc.get(caller.account_id, job_id)
            except Missing:  # deleted while followed
                return None
    return None


@router.get(
    "/fal/queue/{app:rest}/requests/{request_id}",
    summary="fal: a request's result",
    responses=errors(*CALLER, 400, 404, *ENDINGS),
)
async def result(caller: Auth, app: str = APP, request_id: str = REQUEST_ID) -> Response:
    """The result once COMPLETED; 400 before; the error (detail, error_type) of a request
    that ended without one."""
    job, _ = await find(caller, app, request_id)
    if not job.terminal:
        return error_answer(400, "Request is still in progress", "bad_request")
    return await answer_of(caller, job)


async def answer_of(caller: Caller, job: JobRecord) -> Response:
    """An ended request's result, or the error it ended with."""
    headers = {REQUEST_ID_HEADER: job.id}
    if job.status is not Status.SUCCEEDED:
        code, more, detail, error_type = failure(job)
        return error_answer(code, detail, error_type, {**headers, **more})
    return JSONResponse(await result_body(caller.svc, caller.links, job), headers=headers)


@router.route(
    "PUT",
    "/fal/queue/{app:rest}/requests/{request_id}/cancel",
    summary="fal: cancel a request",
    status_code=202,
    responses=errors(*CALLER, 400, 404, 422),
)
async def cancel(caller: Auth, app: str = APP, request_id: str = REQUEST_ID) -> Response:
    """202 CANCELLATION_REQUESTED: a queued request is removed, a running one stops at its
    model's next step; 400 ALREADY_COMPLETED for one already done."""
    job, _ = await find(caller, app, request_id)
    try:
        if job.terminal:
            raise Clash("already done")
        # Finished between the read and the cancel: a Clash, answered as done.
        await caller.svc.cancel(caller.account_id, job.id)
    except Clash:
        body = {
            "status": "ALREADY_COMPLETED",
            "detail": f"Request {job.id!r} is already completed",
            "error_type": "bad_request",
        }
        return JSONResponse(body, 400, headers={ERROR_TYPE_HEADER: "bad_request"})
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202)


#: A run's answer: the result, or (a path ending in ``/stream``) its stream.
RUN_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The result; for an app path ending in /stream, server-sent events.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/fal/run/{app:rest}",
    summary="fal: run a request and wait for its result",
    responses={**RUN_ANSWER, **errors(*CALLER, 400, 402, 403, 404, 413, *ENDINGS)},
    openapi_extra=json_request(ARGUMENTS),
)
async def run(
    request: Request,
    caller: Auth,
    app: str = RUN_APP,
    x_fal_request_timeout: StartTimeout = None,
) -> Response:
    """The result, as the queue's result route answers it, once the request is done; a 504
    request_timeout when it is not done within sync_timeout_seconds (it goes on: follow it
    at the queue's status URL). An app path ending in ``/stream`` (fal's client's
    ``stream``) answers server-sent events instead: the result so far as the model writes
    it, then the result (or ``{detail, error_type}``)."""
    app_id = AppId.parse(app)
    job = await submit_request(
        request, caller, app_id, priority=None, start_timeout=x_fal_request_timeout
    )
    if app_id.path is not None and app_id.path.rsplit("/", 1)[-1] == "stream":
        return await streamed(caller, job)
    seconds = fal_settings(caller).sync_timeout_seconds
    finished = await wait_for_end(request, caller, job, seconds, cancel_if_gone=True)
    if finished is None:
        return error_answer(CLIENT_GONE, "the client closed the request", "client_disconnected")
    if not finished.terminal:
        status_url = queue_urls(caller.base_url, app_id.base, job.id)["status_url"]
        detail = (
            f"Request {job.id} did not finish within {seconds:g} seconds; it goes on: "
            f"follow it at {status_url}"
        )
        return error_answer(504, detail, "request_timeout", {REQUEST_ID_HEADER: job.id})
    return await answer_of(caller, finished)


async def streamed(caller: Caller, job: JobRecord) -> EventStream:
    """A run's events: a text model's text so far at each piece, each value a model streams
    (``ctx.partial``), and last the result, or the error the request ended with."""
    svc, account_id = caller.svc, caller.account_id
    events = await svc.events(account_id, job.id)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        text = ""
        async for event in events:
            if event.type is EventType.TEXT:
                text += event.data.get("delta", "")
                body = {"output": text, "partial": True, "reasoning": None, "error": None}
                yield ServerSentEvent(data=orjson.dumps(body).decode())
            elif event.type is EventType.PARTIAL:
                yield ServerSentEvent(data=orjson.dumps(event.data.get("value")).decode())
            elif event.type is EventType.STATUS and Status(event.data["status"]).terminal:
                ended = await svc.get(account_id, job.id)
                if ended.status is Status.SUCCEEDED:
                    last = await result_body(svc, caller.links, ended)
                else:
                    _, _, detail, error_type = failure(ended)
                    last = {"detail": detail, "error_type": error_type}
                yield ServerSentEvent(data=orjson.dumps(last).decode())
                return

    return EventStream(stream(), headers={REQUEST_ID_HEADER: job.id})
