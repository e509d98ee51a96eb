"""RunPod's serverless endpoints, served under ``/runpod/v2`` (the official client's
``RUNPOD_ENDPOINT_BASE_URL=http://HOST:PORT/runpod/v2``; the prefix keeps them clear of
another dialect's ``/v2/{model}``, which takes any path under ``/v2``).

An endpoint id is a genq model or alias name. ``POST …/{endpoint_id}/run`` queues a job
(``{"input", "webhook"?, "policy"?}``); ``/runsync`` waits for it a while; ``GET
…/status/{id}`` and ``…/stream/{id}`` follow it; ``POST …/cancel/{id}`` and ``…/retry/{id}``
change it; ``GET …/health`` and ``POST …/purge-queue`` are about the endpoint's queue. A job
is reached only through the endpoint id it was submitted to.

Statuses: IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, and TIMED_OUT for a job that
failed at its timeout (``policy.executionTimeout``) or expired at its start deadline
(``policy.ttl``). Errors are ``{"error", "code"}`` with the HTTP status; an invalid request is
a 400, as RunPod answers it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from genq.deadlines import MAX_TIMEOUT_SECONDS, TIMEOUT_CODE
from genq.errors import Clash, Missing, ServiceError, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    dialect_router,
    dialect_settings,
    json_body,
    json_object,
    own_job,
    requested_model,
    submit_translated,
    wait_for_end,
)
from genq.http.dialects.runpod import DIALECT
from genq.http.links import Links
from genq.http.openapi import CALLER, MEANINGS, json_request
from genq.http.responses import JSONResponse
from genq.http.routing import Path, Query
from genq.jobs import EventRecord, EventType, JobRecord, Status, WebhookEvent
from genq.service import MAX_PAGE, MAX_TEXT_BYTES, JobFilter, JobService

API = DIALECT.name
PREFIX = "/runpod/v2"

WORDS = {
    Status.QUEUED: "IN_QUEUE",
    Status.RUNNING: "IN_PROGRESS",
    Status.SUCCEEDED: "COMPLETED",
    Status.FAILED: "FAILED",
    Status.CANCELED: "CANCELLED",
    Status.EXPIRED: "TIMED_OUT",
}
#: How long ``/runsync`` waits by default, and the bounds of its ``?wait=`` (ms): RunPod's.
SYNC_WAIT_MS = 90_000
SYNC_WAIT_RANGE = (1000, 300_000)
#: A policy's priority: a low-priority job runs after the others queued at the default one.
LOW_PRIORITY = -1

ENDPOINT = Path(
    description="The endpoint id: a genq model or alias name (one path segment).",
    max_length=200,
    examples=["demo-text"],
)
JOB_ID = Path(description="The id /run or /runsync answered.", max_length=100)


def render_error(exc: ServiceError) -> Response:
    # RunPod answers an invalid request 400; genq's code is added, so that a client can tell
    # errors apart without parsing the message.
    status = 400 if isinstance(exc, ValidationFailed) else exc.status_code
    return JSONResponse({"error": exc.message, "code": exc.code}, status_code=status)


class RunPodError(BaseModel):
    """RunPod's error shape, as ``render_error`` answers it."""

    model_config = ConfigDict(extra="forbid")

    error: str
    code: str = Field(description="genq's machine-readable code: job_not_found, ...")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meanings = {**MEANINGS, 400: "The body is not JSON, or a field or parameter is invalid."}
    return {status: {"model": RunPodError, "description": meanings[status]} for status in statuses}


router = dialect_router(render_error, DIALECT.title)

RUN_REQUEST = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "input": {"type": "object", "description": "The model's input, as it defines it."},
        "webhook": {"type": "string", "description": "Called with the status once it ends."},
        "policy": {
            "type": "object",
            "properties": {
                "executionTimeout": {
                    "type": "integer",
                    "description": "Milliseconds the job may run: its genq timeout.",
                },
                "ttl": {
                    "type": "integer",
                    "description": "Milliseconds the job may wait to start: its genq start "
                    "deadline (none when the job's retention ends first).",
                },
                "lowPriority": {"type": "boolean", "description": "Run after other jobs."},
            },
        },
    },
}
#: What a submit may answer.
SUBMIT_ERRORS = errors(*CALLER, 400, 402, 403, 404, 413)


# -- statuses and outputs ------------------------------------------------------------------
def status_word(job: JobRecord) -> str:
    if job.status is Status.FAILED and job.error is not None and job.error.code == TIMEOUT_CODE:
        return "TIMED_OUT"
    return WORDS[job.status]


def ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


async def status_body(svc: JobService, links: Links, job: JobRecord) -> dict[str, Any]:
    """The job as RunPod's ``/status`` shows it: its output once COMPLETED, its error once
    it failed or timed out, and its times in milliseconds once known."""
    word = status_word(job)
    body: dict[str, Any] = {"id": job.id, "status": word}
    if job.started_at is not None:
        body["delayTime"] = ms(job.started_at - job.created_at)
        if job.terminal and job.finished_at is not None:
            body["executionTime"] = ms(job.finished_at - job.started_at)
    if word == "COMPLETED":
        body["output"] = await job_output(svc, links, job)
    elif job.error is not None and job.terminal:
        body["error"] = job.error.message
    return body


async def job_output(svc: JobService, links: Links, job: JobRecord) -> Any:
    """A succeeded job's output: the value of a JSON output (what a RunPod handler
    returned), the text of a text output, else its files' URLs: one as a string, several as
    a list. A JSON or text output over ``MAX_TEXT_BYTES`` is its URL too."""
    if not job.outputs:
        return None
    first = job.outputs[0]
    kind = first.content_type.split(";")[0].strip()
    if first.size <= MAX_TEXT_BYTES:
        if kind == "application/json":
            return await svc.output_json(job)
        if kind.startswith("text/"):
            return await svc.output_text(job)
    urls = [link.url for link in links.outputs(job)]
    return urls[0] if len(urls) == 1 else urls


async def webhook_body(
    service: JobService, job: JobRecord, event: WebhookEvent, base_url: str, links: Links
) -> dict[str, Any]:
    """What a webhook set through ``/run`` receives: the job's status, as ``/status``."""
    return await status_body(service, links, job)


def piece(event: EventRecord) -> Any:
    """What one streamed piece hands out: a text model's piece of text, or a value the
    model yielded."""
    if event.type is EventType.TEXT:
        return event.data.get("delta", "")
    return event.data.get("value")


# -- submitting ----------------------------------------------------------------------------
def milliseconds(policy: dict[str, Any], name: str, least: float = 0) -> float | None:
    """A policy's time in milliseconds, as seconds; None when not given. Above 0, and at
    least ``least`` milliseconds when given."""
    value = policy.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationFailed.at(f"policy/{name}", "must be a number of milliseconds above 0")
    if value < least:
        raise ValidationFailed.at(f"policy/{name}", f"must be at least {least:g} milliseconds")
    if value > MAX_TIMEOUT_SECONDS * 1000:
        raise ValidationFailed.at(f"policy/{name}", "must be at most a year")
    return float(value) / 1000


async def submit(request: Request, caller: Caller, endpoint_id: str) -> JobRecord:
    body = json_object(await json_body(request), "body")
    if "input" not in body:
        raise ValidationFailed.at("input", "required")
    fields = json_object(body["input"], "input")
    webhook = body.get("webhook")
    if webhook is not None and not isinstance(webhook, str):
        raise ValidationFailed.at("webhook", "must be a URL")
    policy = body.get("policy")
    policy = {} if policy is None else json_object(policy, "policy")
    low = policy.get("lowPriority", False)
    if not isinstance(low, bool):
        raise ValidationFailed.at("policy/lowPriority", "must be true or false")
    target, _ = caller.svc.resolve(endpoint_id)
    timeout = milliseconds(policy, "executionTimeout")
    limit = target.timeout_seconds
    if timeout is not None and limit is not None and timeout > limit:
        raise ValidationFailed.at(
            "policy/executionTimeout",
            f"must be at most {limit * 1000:g} ms, the limit of model {target.name!r}",
        )
    # A ttl of a moment would be past before the job is stored (and refused then, naming
    # genq's start deadline, which the caller never sent).
    ttl = milliseconds(policy, "ttl", least=1000)
    retention = dialect_settings(caller, API).retention_seconds or caller.svc.retention_seconds
    kept: dict[str, Any] = {k: body[k] for k in ("input", "webhook", "policy") if k in body}
    job, _ = await submit_translated(
        caller,
        API,
        endpoint_id,
        fields,
        request=kept,
        verbatim=True,
        webhook=webhook,
        # The job lives its retention: a ttl that long needs no deadline of its own.
        start_deadline=ttl if ttl is not None and ttl < retention else None,
        timeout=timeout,
        priority=LOW_PRIORITY if low else 0,
    )
    return job


async def find(caller: Caller, endpoint_id: str, job_id: str) -> JobRecord:
    """The caller's job submitted to this endpoint; 404 for any other."""
    try:
        job = await own_job(caller, job_id, API)
        if requested_model(job) == endpoint_id:
            return job
    except Missing:
        pass
    raise Missing("request does not exist", code="job_not_found")


# -- routes --------------------------------------------------------------------------------
@router.post(
    PREFIX + "/{endpoint_id}/run",
    summary="RunPod: queue a job",
    responses=SUBMIT_ERRORS,
    openapi_extra=json_request(RUN_REQUEST),
)
async def run(request: Request, caller: Auth, endpoint_id: str = ENDPOINT) -> Response:
    job = await submit(request, caller, endpoint_id)
    return JSONResponse({"id": job.id, "status": status_word(job)})


@router.post(
    PREFIX + "/{endpoint_id}/runsync",
    summary="RunPod: run a job and wait for it",
    responses=SUBMIT_ERRORS,
    openapi_extra=json_request(RUN_REQUEST),
)
async def runsync(
    request: Request,
    caller: Auth,
    endpoint_id: str = ENDPOINT,
    wait: int = Query(
        SYNC_WAIT_MS,
        ge=SYNC_WAIT_RANGE[0],
        le=SYNC_WAIT_RANGE[1],
        description="Milliseconds to wait for the job to end; it goes on after.",
    ),
) -> Response:
    """The job's status once it ends, or as it is when the wait is over (IN_QUEUE or
    IN_PROGRESS: follow it at ``/status/{id}``)."""
    job = await submit(request, caller, endpoint_id)
    # A client gone meanwhile reads nothing; the job goes on, to be followed by its id.
    job = await wait_for_end(request, caller, job, wait / 1000, cancel_if_gone=False) or job
    return JSONResponse(await status_body(caller.svc, caller.links, job))


@router.get(
    PREFIX + "/{endpoint_id}/status/{job_id}",
    summary="RunPod: a job's status, and its output once it ends",
    responses=errors(*CALLER, 400, 404),
)
async def status(caller: Auth, endpoint_id: str = ENDPOINT, job_id: str = JOB_ID) -> Response:
    job = await find(caller, endpoint_id, job_id)
    return JSONResponse(await status_body(caller.svc, caller.links, job))


@router.get(
    PREFIX + "/{endpoint_id}/stream/{job_id}",
    summary="RunPod: what a job streamed since the last call",
    responses=errors(*CALLER, 400, 404),
)
async def stream(caller: Auth, endpoint_id: str = ENDPOINT, job_id: str = JOB_ID) -> Response:
    """``stream``: the pieces the job streamed (a text model's pieces of text, the values a
    handler yielded) that no earlier call handed out, each once, whichever API process
    answers; ``status`` as it was just before they were taken, so that a final status with
    an empty ``stream`` means nothing more comes."""
    job = await find(caller, endpoint_id, job_id)
    pieces = await caller.svc.take_stream(caller.account_id, job.id)
    return JSONResponse(
        {"id": job.id, "status": status_word(job), "stream": [{"output": piece(e)} for e in pieces]}
    )


@router.post(
    PREFIX + "/{endpoint_id}/cancel/{job_id}",
    summary="RunPod: cancel a job",
    responses=errors(*CALLER, 400, 404),
)
async def cancel(caller: Auth, endpoint_id: str = ENDPOINT, job_id: str = JOB_ID) -> Response:
    """CANCELLED once canceled or asked to stop (a running job stops at its next step); a
    job that ended otherwise keeps, and answers, its status."""
    job = await find(caller, endpoint_id, job_id)
    if not job.terminal:
        with contextlib.suppress(Clash):  # it ended meanwhile
            job = await caller.svc.cancel(caller.account_id, job.id)
    stopping = job.cancel_requested and not job.terminal
    return JSONResponse({"id": job.id, "status": "CANCELLED" if stopping else status_word(job)})


@router.post(
    PREFIX + "/{endpoint_id}/retry/{job_id}",
    summary="RunPod: run a failed, timed-out or cancelled job again",
    responses=errors(*CALLER, 400, 402, 403, 404, 409),
)
async def retry(caller: Auth, endpoint_id: str = ENDPOINT, job_id: str = JOB_ID) -> Response:
    """A new job with the same input, webhook and timeout, under a new id (RunPod keeps the
    id); 409 for a job that is queued, running or completed."""
    job = await find(caller, endpoint_id, job_id)
    again, _ = await caller.svc.retry(caller.account_id, job.id)
    return JSONResponse({"id": again.id, "status": status_word(again)})


@router.get(
    PREFIX + "/{endpoint_id}/health",
    summary="RunPod: the endpoint's jobs and workers",
    responses=errors(*CALLER, 400, 404),
)
async def health(caller: Auth, endpoint_id: str = ENDPOINT) -> Response:
    """``jobs``: the caller's jobs submitted to this endpoint and still kept, by status
    (``failed`` counts the timed out; ``retried``: those run more than once); ``workers``:
    the live workers that serve the model, ``running`` a job now (of any model) or
    ``idle``."""
    target, _ = caller.svc.resolve(endpoint_id)
    svc, account = caller.svc, caller.account_id

    async def count(*statuses: Status, retried: bool = False) -> int:
        where = JobFilter(
            statuses=tuple(s.value for s in statuses),
            origin_api=API,
            origin_model=endpoint_id,
            retried=retried,
        )
        return await svc.count_jobs(account, where)

    serving, busy = await svc.model_workers(target.name)
    jobs = {
        "completed": await count(Status.SUCCEEDED),
        "failed": await count(Status.FAILED, Status.EXPIRED),
        "inProgress": await count(Status.RUNNING),
        "inQueue": await count(Status.QUEUED),
        "retried": await count(retried=True),
    }
    return JSONResponse({"jobs": jobs, "workers": {"idle": serving - busy, "running": busy}})


@router.post(
    PREFIX + "/{endpoint_id}/purge-queue",
    summary="RunPod: cancel the endpoint's queued jobs",
    responses=errors(*CALLER, 400, 404),
)
async def purge_queue(caller: Auth, endpoint_id: str = ENDPOINT) -> Response:
    """Cancels the caller's jobs of this endpoint still queued when it is called; running
    jobs go on (one a worker takes meanwhile too)."""
    target, _ = caller.svc.resolve(endpoint_id)
    svc, account = caller.svc, caller.account_id
    started = time.time()
    removed = 0
    before: int | None = None
    while True:
        jobs, before = await svc.list_jobs(
            account, limit=MAX_PAGE, before=before, status="queued", model=target.name
        )
        for job in jobs:
            ours = job.origin is not None and job.origin.api == API
            if ours and requested_model(job) == endpoint_id and job.created_at <= started:
                removed += await svc.cancel_queued(account, job.id)
        if before is None:
            break
    return JSONResponse({"removed": removed, "status": "completed"})
