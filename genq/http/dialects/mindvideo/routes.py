"""The MindVideo tasks dialect: ``POST /api/v1/tasks``, ``GET /api/v1/tasks/{id}``,
``GET /api/v1/tasks/{id}/events`` and ``POST /api/v1/tasks/{id}/cancel``.

A task is a job of the job service under its own id (``task_id``), so the native API sees the
same job. Its input is checked against the model slug's vendor schema when the alias carries
one, else against the model's own input names; statuses are MindVideo's normalized five.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from genq.credits import credits_json
from genq.errors import Clash, Missing, ServiceError, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    dialect_router,
    json_body,
    json_object,
    modality,
    own_job,
    requested_model,
    submit_translated,
    updated_at,
)
from genq.http.dialects.mindvideo import DIALECT
from genq.http.native import event_after
from genq.http.openapi import (
    CALLER,
    EVENT_STREAM,
    SUBMIT,
    ErrorDetail,
    error_responses,
    json_request,
)
from genq.http.render import isotime, media_entry
from genq.http.responses import EventStream, JSONResponse
from genq.http.routing import Header, Path
from genq.jobs import EventType, JobRecord, Status

API = DIALECT.name

#: genq's statuses in MindVideo's words.
STATUSES = {
    Status.QUEUED: "queued",
    Status.RUNNING: "processing",
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "failed",
    Status.CANCELED: "cancelled",
    Status.EXPIRED: "failed",
}
#: Where an output goes in ``output``, by the first part of its content type.
OUTPUT_KEYS = {"image": "images", "video": "videos", "audio": "audios"}
BODY_FIELDS = ("model", "input")
#: How long a cancel answer waits for a processing task to stop.
CANCEL_WAIT_SECONDS = 2.0

TASK_ID = Path(description="The task's id, as returned by POST /api/v1/tasks.", max_length=100)


def render_error(exc: ServiceError) -> Response:
    """Every error in one shape: ``{"error": {code, message[, details]}, "request_id"}``."""
    body = {**exc.to_dict(), "request_id": "req_" + secrets.token_hex(12)}
    return JSONResponse(body, status_code=exc.status_code)


class MindVideoError(BaseModel):
    """MindVideo's error shape, as ``render_error`` answers it."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail
    request_id: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(MindVideoError, *statuses)


router = dialect_router(render_error, DIALECT.title)

CREATE_REQUEST = {
    "type": "object",
    "required": ["model"],
    "additionalProperties": False,
    "properties": {
        "model": {
            "type": "string",
            "description": "A model slug or a local model's name.",
            "examples": ["qwen-image-2-0-pro"],
        },
        "input": {"type": "object", "description": "The model's input."},
    },
}


def request_id(task_id: str) -> str:
    """A request id that stays the same on every read and replay of a task."""
    return "req_" + task_id.removeprefix("job_")


@contextlib.contextmanager
def task_errors(task_id: str) -> Iterator[None]:
    """Name the task, not the job, in lookup and cancel refusals."""
    try:
        yield
    except Missing as exc:
        if exc.code != "job_not_found":
            raise
        raise Missing(f"no task {task_id!r}", code="task_not_found") from None
    except Clash as exc:
        if exc.code != "job_not_cancelable":
            raise
        status = STATUSES[Status(exc.details["status"])]
        raise Clash(
            f"task {task_id} has already {status} and cannot be cancelled",
            code="task_not_cancellable",
            details={"status": status},
        ) from None


async def task_body(
    caller: Caller, job: JobRecord, status: Status | None = None, at: float | None = None
) -> dict[str, Any]:
    """The task as MindVideo answers it; ``status`` (and ``at``, when it changed to it) shows
    it as it was at an earlier status, an event's, without what only the end brings."""
    status = status or job.status
    ended = status.terminal
    return {
        "request_id": request_id(job.id),
        "task_id": job.id,
        "model": requested_model(job),
        "status": STATUSES[status],
        "cost_estimate": credits_json(job.cost_estimate),
        "cost_actual": credits_json(job.cost_actual) if ended else None,
        "output": await task_output(caller, job) if status is Status.SUCCEEDED else None,
        "error": task_error(job) if ended else None,
        "created_at": isotime(job.created_at),
        "updated_at": isotime(at or updated_at(job)),
    }


async def task_output(caller: Caller, job: JobRecord) -> dict[str, Any]:
    """``{"images": [...]}`` (``videos``, ``audios``), plus ``text`` for a text model; a file
    of any other type goes in ``files``."""
    svc = caller.svc
    made = modality(caller, job)
    output: dict[str, Any] = {}
    if made in OUTPUT_KEYS:
        output[OUTPUT_KEYS[made]] = []
    if made == "text":
        # Its text file holds the whole text; a model may also have only streamed it.
        output["text"] = await svc.output_text(job) or await svc.text_so_far(job) or None
    for item, links in zip(job.outputs, caller.links.outputs(job), strict=True):
        kind = item.content_type.split("/", 1)[0]
        output.setdefault(OUTPUT_KEYS.get(kind, "files"), []).append(media_entry(item, links))
    return output


def task_error(job: JobRecord) -> dict[str, str] | None:
    if job.error is not None:
        return {"code": job.error.code, "message": job.error.message}
    if job.status is Status.EXPIRED:
        return {"code": "expired", "message": "the task expired before it finished"}
    return None


def parse_task(body: Any) -> tuple[str, dict[str, Any]]:
    """The model slug and input of a create request; other top-level fields are refused
    rather than silently dropped."""
    body = json_object(body, "body")
    unknown = [name for name in body if name not in BODY_FIELDS]
    if unknown:
        raise ValidationFailed(
            f"invalid request: unknown field {unknown[0]!r}: send model and input",
            details=[{"path": name, "message": "unknown field"} for name in unknown],
        )
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValidationFailed(
            "invalid request: model: a model slug is required",
            details=[{"path": "model", "message": "a non-empty string is required"}],
        )
    return model.strip(), json_object(body.get("input", {}), "input")


@router.post(
    "/api/v1/tasks",
    summary="Create a task (MindVideo)",
    responses=errors(*CALLER, *SUBMIT, 409),
    openapi_extra=json_request(CREATE_REQUEST),
)
async def create_task(
    request: Request,
    caller: Auth,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Queue a task; the same ``Idempotency-Key`` with the same model and input returns the
    original task (and charges nothing), with other input 409. Both answer 200."""
    model, input = parse_task(await json_body(request))
    _, alias = caller.svc.resolve(model)
    job, created = await submit_translated(
        caller,
        API,
        model,
        input,
        request={"model": model, "input": input},
        # A vendor schema already refused what it does not know; without one, a field the
        # model lacks is named rather than dropped.
        strict=alias is None or alias.input_schema is None,
        idempotency_key=(idempotency_key or "").strip() or None,
    )
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse(await task_body(caller, job), headers=headers)


@router.get(
    "/api/v1/tasks/{task_id}", summary="Get a task (MindVideo)", responses=errors(*CALLER, 404, 422)
)
async def get_task(caller: Auth, task_id: str = TASK_ID) -> Response:
    with task_errors(task_id):
        job = await own_job(caller, task_id, API)
    return JSONResponse(await task_body(caller, job))


@router.post(
    "/api/v1/tasks/{task_id}/cancel",
    summary="Cancel a task (MindVideo)",
    responses=errors(*CALLER, 404, 409, 422),
)
async def cancel_task(caller: Auth, task_id: str = TASK_ID) -> Response:
    """Idempotent: a queued task is cancelled at once, a processing one at its next step; a
    succeeded or failed task answers 409."""
    with task_errors(task_id):
        await own_job(caller, task_id, API)
        job = await caller.svc.cancel(caller.account_id, task_id)
        if not job.terminal:
            # A running model stops at its next step, usually within moments: answer with
            # the task cancelled rather than still processing when that comes soon.
            job = await caller.svc.wait(caller.account_id, task_id, CANCEL_WAIT_SECONDS)
    return JSONResponse(await task_body(caller, job))


@router.get(
    "/api/v1/tasks/{task_id}/events",
    summary="Follow a task's status (MindVideo)",
    answers_json=False,
    responses={**EVENT_STREAM, **errors(*CALLER, 404, 422)},
)
async def task_events(
    caller: Auth,
    task_id: str = TASK_ID,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStream:
    """A ``status`` event with the task's body at each status change, ending after the last;
    resumable with ``Last-Event-ID``."""
    after = event_after(last_event_id)
    with task_errors(task_id):
        await own_job(caller, task_id, API)
        events = await caller.svc.events(caller.account_id, task_id, after)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        shown = None
        async for event in events:
            if event.type is not EventType.STATUS:
                continue
            status = Status(event.data["status"])
            # A lapsed lease puts a running job back in the queue: that is a change too, but
            # two genq statuses with one MindVideo word are not.
            if STATUSES[status] == shown:
                continue
            shown = STATUSES[status]
            try:
                job = await caller.svc.get(caller.account_id, task_id)
            except Missing:  # deleted while followed
                return
            body = await task_body(caller, job, status, event.created_at)
            yield ServerSentEvent(
                data=orjson.dumps(body).decode(), event="status", id=str(event.id)
            )

    return EventStream(stream())
