"""The native API: ``/v1/jobs`` and ``/v1/models``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, TypeVar

import orjson
from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr, ValidationError
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from genq.deadlines import MAX_TIMEOUT_SECONDS
from genq.errors import Missing, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.cursors import DECIMAL_ID, decode_cursor, encode_cursor
from genq.http.openapi import CALLER, EVENT_STREAM, FILE_ANSWERS, SUBMIT, native_errors
from genq.http.render import render_event, render_job
from genq.http.responses import EventStream, FileDownload, JSONResponse, request_invalid
from genq.http.routing import Header, Path, Query, Router
from genq.jobs import DeliveryRecord, EventRecord, EventType, JobRecord
from genq.limits import parse_json
from genq.service import MAX_PAGE, MAX_WAIT_SECONDS, Estimate, QueueState

router = Router("/v1")

T = TypeVar("T")
WebhookEventName = Literal["start", "progress", "output", "completed"]
#: Longest a client may ask an event stream to last.
MAX_STREAM_SECONDS = 24 * 3600

#: An output is served by genq itself, or, from object storage, through a redirect.
OUTPUT_ANSWERS = {**FILE_ANSWERS, 307: {"description": "Where the file is (object storage)."}}

JOB_ID = Path(description="The job's id, as returned by POST /v1/jobs.", max_length=100)


class SubmitRequest(BaseModel):
    # A misspelt field ("inputs") is an error, not a job run with an empty input.
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="Name of the model to run (see GET /v1/models).",
        max_length=200,
        examples=["noop"],
    )
    input: dict[str, Any] = Field(
        default_factory=dict, description="The model's input; checked against its input_schema."
    )
    priority: int = Field(
        default=0, ge=-1000, le=1000, description="Higher runs first; equal runs oldest first."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Yours to keep with the job; returned unchanged."
    )
    webhook: str | None = Field(
        default=None,
        max_length=2000,
        description="An https URL to call (POST, signed per Standard Webhooks with the "
        "account's secret, GET /v1/webhooks/default/secret) on webhook_events; http only "
        "where the server allows it. Loopback and private addresses are refused.",
        examples=["https://example.com/genq-webhook"],
    )
    webhook_events: list[WebhookEventName] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="What to call the webhook for: start, progress (the latest, not every "
        'step), output, completed. Default: ["completed"].',
    )
    start_deadline: StrictFloat | StrictStr | None = Field(
        default=None,
        description="When the job must have started by: seconds from now, or an RFC 3339 "
        "time. A job still queued then ends expired, charged nothing. No later than the "
        "job's expires_at.",
        examples=[300, "2030-01-01T12:00:00Z"],
    )
    timeout: StrictFloat | None = Field(
        default=None,
        gt=0,
        le=MAX_TIMEOUT_SECONDS,
        allow_inf_nan=False,
        description="Seconds the job may run once started (loading its model included); "
        "past them it is stopped and fails with code timeout. At most the model's "
        "timeout_seconds, which applies when this is not given.",
        examples=[600],
    )


def job_response(
    caller: Caller,
    job: JobRecord,
    status_code: int = 200,
    queue: QueueState | None = None,
    deliveries: list[DeliveryRecord] | None = None,
    eta: Estimate | None = None,
) -> JSONResponse:
    body = render_job(job, caller.base_url, caller.links.outputs(job), queue, deliveries, eta)
    return JSONResponse(body, status_code=status_code)


def parse_submit(raw: bytes, max_depth: int) -> SubmitRequest:
    data = parse_json(raw, max_depth)
    try:
        return SubmitRequest.model_validate(data)
    except ValidationError as exc:
        raise request_invalid(exc.errors()) from None


@router.post(
    "/jobs",
    status_code=202,
    summary="Submit a job",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SubmitRequest.model_json_schema()}},
        }
    },
    responses={
        200: {
            "description": "An idempotent replay: the original job.",
            "content": {"application/json": {}},
        },
        **native_errors(*CALLER, *SUBMIT, 409),
    },
)
async def submit_job(
    request: Request,
    caller: Auth,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    prefer: Annotated[
        str | None,
        Header(description="`wait=N` (N ≤ 60): answer once the job is terminal or N s pass."),
    ] = None,
) -> Response:
    """Validate the input against the model's schema and queue the job (202); the same
    ``Idempotency-Key`` with the same body returns the original job (200). With
    ``Prefer: wait=N`` the answer waits for the job like ``GET ?wait=N``."""
    wait = preferred_wait(prefer)
    body = parse_submit(await request.body(), caller.svc.max_json_depth)
    idempotency_key = (idempotency_key or "").strip() or None
    job, created = await caller.svc.submit(
        caller.account_id,
        body.model,
        body.input,
        priority=body.priority,
        metadata=body.metadata,
        idempotency_key=idempotency_key,
        webhook=body.webhook,
        webhook_events=body.webhook_events,
        start_deadline=body.start_deadline,
        timeout=body.timeout,
    )
    if wait and not job.terminal:
        job = await caller.svc.wait(caller.account_id, job.id, wait)
    return job_response(caller, job, 202 if created else 200)


def preferred_wait(prefer: str | None) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240); plain ``wait`` means the most."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        if not value:
            return MAX_WAIT_SECONDS
        try:
            seconds = float(value.strip().strip('"'))
        except ValueError:
            seconds = -1
        if not 0 <= seconds <= MAX_WAIT_SECONDS:
            raise ValidationFailed(
                f"Prefer: wait must be between 0 and {MAX_WAIT_SECONDS:g} seconds",
                details=[{"path": "header/Prefer", "message": f"invalid wait {value!r}"}],
            )
        return seconds
    return 0.0


@router.get("/jobs", summary="List jobs, newest first", responses=native_errors(*CALLER, 422))
async def list_jobs(
    caller: Auth,
    status: str | None = Query(None, description="Only jobs with this status."),
    model: str | None = Query(None, description="Only jobs of this model."),
    limit: int = Query(20, ge=1, le=MAX_PAGE),
    cursor: str | None = Query(None, description="next_cursor from the previous page."),
) -> Response:
    jobs, next_seq = await caller.svc.list_jobs(
        caller.account_id,
        limit=limit,
        before=decode_cursor(cursor) if cursor else None,
        status=status,
        model=model,
    )
    links = caller.links
    data = [render_job(job, caller.base_url, links.outputs(job)) for job in jobs]
    next_cursor = None if next_seq is None else encode_cursor(next_seq)
    return JSONResponse({"object": "list", "data": data, "next_cursor": next_cursor})


@router.get("/jobs/{job_id}", summary="Get a job", responses=native_errors(*CALLER, 404, 422))
async def get_job(
    caller: Auth,
    job_id: str = JOB_ID,
    wait: float = Query(
        0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Hold the request up to this many seconds until the job is terminal.",
    ),
) -> Response:
    svc = caller.svc
    if wait > 0:
        job = await svc.wait(caller.account_id, job_id, wait)
    else:
        job = await svc.get(caller.account_id, job_id)
    # Read only for a job with a webhook or whose account has endpoints: the status read of
    # every other job stays one read.
    deliveries = await svc.deliveries(job)
    return job_response(
        caller,
        job,
        queue=await svc.queue_state(job),
        deliveries=deliveries,
        eta=Estimate(await svc.eta(job)),
    )


@router.post(
    "/jobs/{job_id}/cancel",
    summary="Cancel a job",
    responses=native_errors(*CALLER, 404, 409, 422),
)
async def cancel_job(caller: Auth, job_id: str = JOB_ID) -> Response:
    """Idempotent. A queued job is canceled at once; a running one is asked to stop and, past
    the grace period, stopped by force. A succeeded or failed job answers 409."""
    return job_response(caller, await caller.svc.cancel(caller.account_id, job_id))


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    summary="Run a failed, canceled or expired job again",
    responses={
        200: {
            "description": "An idempotent replay: the retry this Idempotency-Key made.",
            "content": {"application/json": {}},
        },
        # What a submit may answer: the retry is one.
        **native_errors(*CALLER, *SUBMIT, 409),
    },
)
async def retry_job(
    caller: Auth,
    job_id: str = JOB_ID,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """A new job with the same model (as the caller named it), input, priority, metadata and
    webhook, charged as a new job (202). The new job's ``retry_of`` names this one, whose
    ``retried_by`` names its latest retry. A queued, running or succeeded job answers 409
    ``not_retryable``. The same ``Idempotency-Key`` returns the retry it made (200)."""
    idempotency_key = (idempotency_key or "").strip() or None
    job, created = await caller.svc.retry(
        caller.account_id, job_id, idempotency_key=idempotency_key
    )
    return job_response(caller, job, 202 if created else 200)


@router.delete(
    "/jobs/{job_id}",
    summary="Delete a job and its files",
    responses=native_errors(*CALLER, 404, 422),
)
async def delete_job(caller: Auth, job_id: str = JOB_ID) -> Response:
    job = await caller.svc.delete(caller.account_id, job_id)
    return JSONResponse({"id": job.id, "object": "job", "deleted": True})


@router.get(
    "/jobs/{job_id}/events",
    summary="Follow a job's events (server-sent events)",
    answers_json=False,
    responses={**EVENT_STREAM, **native_errors(*CALLER, 404, 422)},
)
async def job_events(
    caller: Auth,
    job_id: str = JOB_ID,
    last_event_id: Annotated[str | None, Header()] = None,
    timeout: float | None = Query(
        None,
        gt=0,
        le=MAX_STREAM_SECONDS,
        description="End the stream after this many seconds, finished or not (resume with "
        "Last-Event-ID).",
    ),
) -> EventStream:
    """One event per status change (``status``), progress update (``progress``), log line
    (``log``) and output (``output``); a text model's text as it comes (``text``), and the
    values a model streams, such as a generator handler's items (``partial``, ``{"value"}``);
    resumable with ``Last-Event-ID``; the stream ends after the terminal status event, or after
    ``timeout`` seconds: a client with a deadline gets its answer on time, which the
    keep-alive pings would otherwise put off."""
    after = event_after(last_event_id)
    svc, links = caller.svc, caller.links
    events = await svc.events(caller.account_id, job_id, after)

    async def stream() -> AsyncIterator[bytes]:
        async for event in within(events, timeout):
            if event.type is not EventType.OUTPUT:
                yield frame(job_id, event)
                continue
            try:
                job = await svc.get(caller.account_id, job_id)
            except Missing:  # deleted while followed: its files are gone too
                return
            # Its links are signed for this caller: written for each follower.
            data = render_event(event)
            data["url"] = links.file(job, data.pop("key"))
            if thumbnail := data.pop("thumbnail", None):
                data["thumbnail_url"] = links.file(job, thumbnail)
            yield sse_frame(event, data)

    return EventStream(stream())


#: Frames of events lately sent, by job and event: every follower of a job gets the same bytes.
_frames: LRUCache[tuple[str, int], bytes] = LRUCache(maxsize=4096)


def frame(job_id: str, event: EventRecord) -> bytes:
    """An event's frame as every follower gets it, written once for them all."""
    key = (job_id, event.id)
    written = _frames.get(key)
    if written is None:
        written = _frames[key] = sse_frame(event, render_event(event))
    return written


def sse_frame(event: EventRecord, data: dict[str, Any]) -> bytes:
    text = orjson.dumps(data).decode()
    return ServerSentEvent(data=text, event=event.type.value, id=str(event.id)).encode()


def event_after(last_event_id: str | None) -> int:
    """The event id a stream resumes after, from its ``Last-Event-ID`` header (0: none)."""
    if not last_event_id:
        return 0
    if not DECIMAL_ID.fullmatch(last_event_id):
        raise ValidationFailed(
            "Last-Event-ID must be an event id",
            details=[{"path": "Last-Event-ID", "message": "not an integer"}],
        )
    return int(last_event_id)


async def within(events: AsyncIterator[T], seconds: float | None) -> AsyncIterator[T]:
    """``events`` until they end or ``seconds`` pass."""
    if seconds is None:
        async for event in events:
            yield event
        return
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            yield await asyncio.wait_for(anext(events), left)
        except (StopAsyncIteration, TimeoutError):
            return


@router.get(
    "/jobs/{job_id}/outputs/{index}",
    summary="Download one output of a job",
    answers_json=False,
    responses={**OUTPUT_ANSWERS, **native_errors(*CALLER, 404, 416, 422)},
)
@router.head(
    "/jobs/{job_id}/outputs/{index}",
    summary="One output's headers (size, type), no body",
    answers_json=False,
    responses={**OUTPUT_ANSWERS, **native_errors(*CALLER, 404, 416, 422)},
)
async def job_output(
    request: Request, caller: Auth, job_id: str = JOB_ID, index: int = Path(ge=0)
) -> Response:
    """The file itself, or a redirect to a short-lived link where object storage holds it."""
    job, output, path = await caller.svc.output_file(caller.account_id, job_id, index)
    if path is None:
        if request.method == "HEAD":
            # A presigned link is signed for GET alone: HEAD is answered from the record.
            headers = {"Content-Length": str(output.size), "Accept-Ranges": "bytes"}
            return Response(media_type=output.content_type, headers=headers)
        return RedirectResponse(caller.links.file(job, output.key), status_code=307)
    return FileDownload(path, media_type=output.content_type)


@router.get("/models", summary="List models", responses=native_errors(*CALLER))
async def list_models(caller: Auth) -> Response:
    svc = caller.svc
    models = [{**m.describe(), "aliases": svc.aliases_of(m.name)} for m in svc.models()]
    return JSONResponse({"object": "list", "data": models})


@router.get(
    "/models/{name:rest}",
    summary="Describe a model (by its name or an alias)",
    responses=native_errors(*CALLER, 404),
)
async def get_model(caller: Auth, name: str) -> Response:
    model = caller.svc.model(name)
    return JSONResponse({**model.describe(), "aliases": caller.svc.aliases_of(model.name)})
