"""Segmind's async inference (V2): ``POST /v2/{model}``, ``GET /v2/requests/{id}/status``,
``GET /v2/requests/{id}`` and the legacy ``GET /v1/requests/{id}``.

Statuses are QUEUED, PROCESSING, COMPLETED and FAILED. A failed request answers 422 with its
FAILED body on the V2 endpoints; a request past its result expiry (1 hour by default, the
``[dialects.segmind]`` retention) is a 404 everywhere. A canceled or expired job reads FAILED.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from genq.errors import Missing, ServiceError, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    absolute,
    dialect_router,
    json_body,
    json_object,
    modality,
    own_job,
    submit_translated,
)
from genq.http.dialects.segmind import DIALECT
from genq.http.openapi import CALLER, error_responses, json_request
from genq.http.responses import JSONResponse
from genq.http.routing import Path
from genq.jobs import JobRecord, Status

API = DIALECT.name

STATUS_WORDS = {
    Status.QUEUED: "QUEUED",
    Status.RUNNING: "PROCESSING",
    Status.SUCCEEDED: "COMPLETED",
    Status.FAILED: "FAILED",
    Status.CANCELED: "FAILED",
    Status.EXPIRED: "FAILED",
}

#: Segmind's own words for a request without a usable prompt.
PROMPT_MESSAGE = "Prompt is Mandatory and must be string"

REQUEST_ID = Path(description="The request_id returned on submit.", max_length=100)


def render_error(exc: ServiceError) -> Response:
    if isinstance(exc, ValidationFailed):
        return failed_body(exc.message)
    return JSONResponse({"error": exc.message}, status_code=exc.status_code)


def failed_body(message: str, status_code: int = 422) -> JSONResponse:
    return JSONResponse({"status": "FAILED", "error": message, "metrics": {}}, status_code)


class SegmindError(BaseModel):
    """Segmind's error shape, as ``render_error`` answers all but invalid requests."""

    model_config = ConfigDict(extra="forbid")

    error: str


class SegmindFailed(BaseModel):
    """A FAILED request (``failed_body``): an invalid one, or one whose job failed."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["FAILED"]
    error: str
    metrics: dict[str, Any]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error answers in Segmind's shapes: a 422 is a FAILED body."""
    answers = error_responses(SegmindError, *(s for s in statuses if s != 422))
    if 422 in statuses:
        answers[422] = {
            "model": SegmindFailed,
            "description": "FAILED: the request is invalid, or its job failed.",
        }
    return answers


router = dialect_router(render_error, DIALECT.title)


@router.post(
    "/v2/{model:rest}",
    summary="Segmind: submit an async request",
    responses=errors(*CALLER, 400, 402, 403, 404, 413, 422),
    openapi_extra=json_request({"type": "object", "properties": {"prompt": {"type": "string"}}}),
)
async def submit(
    request: Request, caller: Auth, model: str = Path(examples=["seedream-4.5"])
) -> Response:
    fields = json_object(await json_body(request), "body")
    target, _ = caller.svc.resolve(model)
    if "prompt" in target.model.input_schema.get("required", ()) and not (
        isinstance(fields.get("prompt"), str) and fields["prompt"]
    ):
        raise ValidationFailed(PROMPT_MESSAGE)
    job, _ = await submit_translated(caller, API, model, fields, root="")
    return JSONResponse(
        {
            "request_id": job.id,
            "status": "QUEUED",
            "poll_url": absolute(caller, f"/v1/requests/{job.id}"),
            "status_url": absolute(caller, f"/v2/requests/{job.id}/status"),
            "response_url": absolute(caller, f"/v2/requests/{job.id}"),
        }
    )


@router.get(
    "/v2/requests/{request_id}/status",
    summary="Segmind: lightweight status",
    responses=errors(*CALLER, 404, 422),
)
async def status(caller: Auth, request_id: str = REQUEST_ID) -> Response:
    job = await find(caller, request_id)
    word = STATUS_WORDS[job.status]
    if word == "FAILED":
        return failed_body(error_message(job))
    if word == "COMPLETED":
        return JSONResponse({"status": word, "request_id": job.id, "metrics": metrics(job)})
    return JSONResponse(pending_body(caller, job))


@router.get(
    "/v2/requests/{request_id}",
    summary="Segmind: full result",
    responses=errors(*CALLER, 404, 422),
)
async def result(caller: Auth, request_id: str = REQUEST_ID) -> Response:
    job = await find(caller, request_id)
    if STATUS_WORDS[job.status] == "FAILED":
        return failed_body(error_message(job))
    return JSONResponse(await result_body(caller, job))


@router.get(
    "/v1/requests/{request_id}",
    summary="Segmind: legacy poll (status and output)",
    responses=errors(*CALLER, 404, 422),
)
async def legacy_poll(caller: Auth, request_id: str = REQUEST_ID) -> Response:
    job = await find(caller, request_id)
    if STATUS_WORDS[job.status] == "FAILED":
        # The legacy endpoint reports a failure in its body, with 200.
        return failed_body(error_message(job), status_code=200)
    return JSONResponse(await result_body(caller, job))


async def find(caller: Caller, request_id: str) -> JobRecord:
    try:
        return await own_job(caller, request_id, API)
    except Missing:
        raise Missing(f"Request {request_id} not found") from None


def error_message(job: JobRecord) -> str:
    if job.error is not None:
        return job.error.message
    return f"the request was {job.status.value}"


def metrics(job: JobRecord) -> dict[str, Any]:
    if job.inference_time is None:
        return {}
    return {"inference_time": round(job.inference_time, 2)}


def pending_body(caller: Caller, job: JobRecord) -> dict[str, Any]:
    return {
        "status": STATUS_WORDS[job.status],
        "request_id": job.id,
        "status_url": absolute(caller, f"/v2/requests/{job.id}/status"),
        "response_url": absolute(caller, f"/v2/requests/{job.id}"),
        "metrics": {},
    }


async def result_body(caller: Caller, job: JobRecord) -> dict[str, Any]:
    """The result in the shape of the model's modality; the status alone before it ends,
    except for text, whose partial output shows as it is written."""
    kind = modality(caller, job)
    if kind == "text":
        return await text_body(caller, job)
    if job.status is not Status.SUCCEEDED:
        return pending_body(caller, job)
    links = caller.links.outputs(job)
    files = [
        {"url": link.url, "content_type": output.content_type, "size": output.size}
        for output, link in zip(job.outputs, links, strict=True)
    ]
    body: dict[str, Any] = {"status": "COMPLETED"}
    if kind == "image":
        body["images"] = [
            {"url": f["url"], "content_type": f["content_type"], "file_size": str(f["size"])}
            for f in files
        ]
    elif files:
        first = files[0]
        body[kind if kind in ("video", "audio") else "file"] = {
            "url": first["url"],
            "content_type": first["content_type"],
            "file_name": file_name(job.outputs[0].key),
            "file_size": first["size"],
        }
    body["output"] = files[0]["url"] if files else None
    # The seed the model was given; a request's -1 ("random") is not one.
    seed = job.input.get("seed")
    if seed is not None:
        body["seed"] = str(seed)
    if "prompt" in job.input:
        body["prompt"] = job.input["prompt"]
    if job.inference_time is not None:
        body["timings"] = {"inference": round(job.inference_time, 2)}
    body["metrics"] = metrics(job)
    return body


async def text_body(caller: Caller, job: JobRecord) -> dict[str, Any]:
    done = job.status is Status.SUCCEEDED
    text = await caller.svc.output_text(job) if done else None
    if text is None:
        text = await caller.svc.text_so_far(job)
    return {
        "status": STATUS_WORDS[job.status],
        "output": text,
        "reasoning": None,
        "partial": not done,
        "error": None,
        "metrics": metrics(job),
    }


def file_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]
