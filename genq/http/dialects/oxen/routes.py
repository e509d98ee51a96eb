"""The Oxen.ai dialect: the async generation queue and the synchronous generate endpoints.

``POST /api/ai/queue`` makes one genq job per generation (the job's id is the generation id);
``GET /api/media/generations/status/{namespace}/{model}`` lists the caller's generations of a
model that are still in progress, and a generation is done once it has left that list; its
result is then read through the native ``GET /v1/jobs/{id}``. ``DELETE
/api/media/generations/{namespace}/{id}`` cancels one. ``POST /api/ai/images/generate`` and
``/api/ai/videos/generate`` answer only once the result is ready. A namespace is the caller's
account name; Oxen jobs live ``[dialects.oxen] retention_seconds`` (24 hours by default).
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from genq.errors import BadRequest, Clash, Missing, ServiceError
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    dialect_router,
    dialect_settings,
    json_body,
    json_object,
    origin_request,
    own_job,
    requested_model,
    submit_translated,
    submit_translated_group,
    wait_for_end,
)
from genq.http.dialects.oxen import DIALECT
from genq.http.dialects.oxen.settings import OxenSettings
from genq.http.openapi import CALLER, SUBMIT, error_responses, json_request
from genq.http.render import media_entry
from genq.http.responses import JSONResponse
from genq.jobs import JobRecord, Status
from genq.service import MAX_PAGE, JobFilter

API = DIALECT.name
MAX_GENERATIONS = 4
#: The modalities the queue takes; text (and audio) models are refused.
MEDIA = ("image", "video")
#: Oxen's words for a generation still in progress.
STATUS_WORDS = {Status.QUEUED: "queued", Status.RUNNING: "processing"}
#: Request fields about the queue or the answer rather than the model: kept with the job, not
#: handed to the model (a slug with a vendor schema would refuse them).
NOT_FOR_MODEL = ("target_namespace", "response_format", "multi_prompt")
#: The status nginx uses for "the client closed the request": nobody reads it.
CLIENT_GONE = 499


def render_error(exc: ServiceError) -> Response:
    return JSONResponse({"error": exc.message}, status_code=exc.status_code)


class OxenError(BaseModel):
    """Oxen's error shape: ``render_error``'s, and a synchronous generation's that ended
    without files (which names the generation)."""

    model_config = ConfigDict(extra="forbid")

    error: str
    generation_id: str | None = Field(default=None, description="A generation that ended.")
    model: str | None = None
    status: str | None = Field(default=None, description="How it ended: failed, cancelled...")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(OxenError, *statuses)


#: How a synchronous generate ends without files, besides the errors of a submit.
SYNC_ENDINGS: dict[int | str, dict[str, Any]] = {
    400: {"model": OxenError, "description": "Not JSON, or the model refused the input."},
    409: {"model": OxenError, "description": "The generation was cancelled or expired."},
    500: {"model": OxenError, "description": "The generation failed (the model's error)."},
    504: {
        "model": OxenError,
        "description": "Not finished within sync_timeout_seconds; it goes on.",
    },
}

router = dialect_router(render_error, DIALECT.title)

#: A request's fields besides these are the model's parameters.
QUEUE_REQUEST = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {
            "type": "string",
            "description": "An image or video model (or alias).",
            "examples": ["seedream-4.5"],
        },
        "num_generations": {"type": "integer", "minimum": 1, "maximum": MAX_GENERATIONS},
        "target_namespace": {"type": "string", "description": "The caller's account name."},
        "prompt": {"type": "string"},
    },
}
#: No example model here: a generated request naming a real one would wait for its result.
GENERATE_REQUEST = {
    "type": "object",
    "required": ["model"],
    "properties": {"model": {"type": "string"}, "prompt": {"type": "string"}},
}


def oxen_settings(caller: Caller) -> OxenSettings:
    return cast(OxenSettings, dialect_settings(caller, API))


def generation_gone() -> Missing:
    return Missing("Generation already completed or doesn't exist", code="generation_not_found")


def check_namespace(caller: Caller, namespace: Any) -> None:
    """A namespace is the caller's own account name; any other one is not found, whether it
    exists or not, so that no other account is revealed."""
    if namespace != caller.key.account_name:
        raise Missing(f"Namespace not found: {namespace}", code="namespace_not_found")


def media_model(caller: Caller, name: Any, kinds: tuple[str, ...]) -> str:
    """The requested model name, once it is known to make one of ``kinds``."""
    if not isinstance(name, str) or not name:
        raise BadRequest("model is required", code="model_required")
    try:
        target, _ = caller.svc.resolve(name)
    except Missing:
        raise Missing(f"Model not found: {name}", code="model_not_found") from None
    if target.model.modality not in kinds:
        raise BadRequest(":unsupported_media_type", code="unsupported_media_type")
    return name


def generation_count(value: Any) -> int:
    if value is None:
        return 1
    # JSON true and 2.0 are not integers, though Python would count them as such.
    if type(value) is not int or not 1 <= value <= MAX_GENERATIONS:
        raise BadRequest(
            f"num_generations must be an integer between 1 and {MAX_GENERATIONS}",
            code="invalid_num_generations",
        )
    return value


def generation_request(params: dict[str, Any], index: int) -> dict[str, Any]:
    """The request of the ``index``-th generation: a given seed moves on by one per generation,
    so that the generations differ; a random seed (-1) stays random."""
    seed = params.get("seed")
    if index == 0 or type(seed) is not int or seed < 0:
        return params
    return {**params, "seed": seed + index}


def model_fields(request: dict[str, Any]) -> dict[str, Any]:
    """The fields the model is asked for: a multi-shot prompt becomes one prompt when no
    plain prompt is given, since the local models take a single one."""
    fields = {k: v for k, v in request.items() if k not in NOT_FOR_MODEL}
    shots = request.get("multi_prompt")
    if fields.get("prompt") is None and isinstance(shots, list):
        texts = [s.get("prompt") if isinstance(s, dict) else s for s in shots]
        joined = " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())
        if joined:
            fields["prompt"] = joined
    return fields


async def submit_generations(
    caller: Caller, model: str, params: dict[str, Any], count: int
) -> list[JobRecord]:
    """Queue ``count`` generations, all or none (credits are checked for all of them)."""
    requests = [generation_request(params, index) for index in range(count)]
    parts = [(model_fields(request), request) for request in requests]
    return await submit_translated_group(caller, API, model, parts, root="")


def status_word(job: JobRecord) -> str:
    return STATUS_WORDS.get(job.status, job.status.value)


@router.post(
    "/api/ai/queue",
    summary="Queue 1-4 generations of an image or video model",
    responses=errors(*CALLER, *SUBMIT),
    openapi_extra=json_request(QUEUE_REQUEST),
)
async def enqueue(request: Request, caller: Auth) -> Response:
    body = json_object(await json_body(request), "body")
    model = media_model(caller, body.get("model"), MEDIA)
    count = generation_count(body.get("num_generations"))
    if body.get("target_namespace") is not None:
        check_namespace(caller, body["target_namespace"])
    params = {k: v for k, v in body.items() if k not in ("model", "num_generations")}
    jobs = await submit_generations(caller, model, params, count)
    generations = [{"generation_id": job.id, "status": status_word(job)} for job in jobs]
    return JSONResponse({"generations": generations})


async def in_progress(caller: Caller, model_name: str) -> list[JobRecord]:
    """The caller's queued and running generations of a model, oldest first."""
    statuses = tuple(status.value for status in STATUS_WORDS)
    where = JobFilter(statuses=statuses, origin_api=API, origin_model=model_name)
    jobs: list[JobRecord] = []
    page = 1
    while True:
        batch, total = await caller.svc.page_jobs(
            caller.account_id, where, page=page, page_size=MAX_PAGE
        )
        jobs.extend(batch)
        if not batch or len(jobs) >= total:
            break
        page += 1
    # A generation asked to stop is over for its caller, though its worker may take a
    # moment to reach the step where it stops.
    return [job for job in reversed(jobs) if not job.cancel_requested]


def status_item(job: JobRecord) -> dict[str, Any]:
    name = requested_model(job)
    return {
        **origin_request(job),
        "generation_id": job.id,
        "model": name,
        "model_name": name,
        "enqueued_at": int(job.created_at),
        "status": status_word(job),
    }


@router.get(
    "/api/media/generations/status/{namespace}/{model_name:rest}",
    summary="List the generations of a model still in progress",
    responses=errors(*CALLER, 400, 404),
)
async def generation_status(caller: Auth, namespace: str, model_name: str) -> Response:
    """A generation is listed while queued or running and leaves the list once done: poll
    until ``count`` is 0."""
    check_namespace(caller, namespace)
    media_model(caller, model_name, MEDIA)
    items = [status_item(job) for job in await in_progress(caller, model_name)]
    return JSONResponse({"count": len(items), "generations": items})


@router.delete(
    "/api/media/generations/{namespace}/{generation_id}",
    summary="Cancel a queued or running generation",
    responses=errors(*CALLER, 404),
)
async def cancel_generation(caller: Auth, namespace: str, generation_id: str) -> Response:
    check_namespace(caller, namespace)
    svc = caller.svc
    try:
        job = await own_job(caller, generation_id, API)
        if job.terminal or job.cancel_requested:
            raise generation_gone()
        # Finished between the read and the cancel: a Clash, answered as done.
        await svc.cancel(caller.account_id, generation_id)
    except (Missing, Clash):
        raise generation_gone() from None
    return JSONResponse({"generation_id": job.id, "status": "cancelled"})


@router.post(
    "/api/ai/images/generate",
    summary="Generate images and wait for them",
    responses={**errors(*CALLER, *SUBMIT), **SYNC_ENDINGS},
    openapi_extra=json_request(GENERATE_REQUEST),
)
async def generate_images(request: Request, caller: Auth) -> Response:
    return await generate(request, caller, "image")


@router.post(
    "/api/ai/videos/generate",
    summary="Generate a video and wait for it",
    responses={**errors(*CALLER, *SUBMIT), **SYNC_ENDINGS},
    openapi_extra=json_request(GENERATE_REQUEST),
)
async def generate_videos(request: Request, caller: Auth) -> Response:
    return await generate(request, caller, "video")


async def generate(request: Request, caller: Caller, kind: str) -> Response:
    body = json_object(await json_body(request), "body")
    model = media_model(caller, body.get("model"), (kind,))
    params = {k: v for k, v in body.items() if k != "model"}
    job, _ = await submit_translated(
        caller, API, model, model_fields(params), request=params, root=""
    )
    seconds = oxen_settings(caller).sync_timeout_seconds
    finished = await wait_for_end(request, caller, job, seconds, cancel_if_gone=True)
    if finished is None:
        return JSONResponse({"error": "the client closed the request"}, status_code=CLIENT_GONE)
    return sync_answer(caller, finished, kind)


def sync_answer(caller: Caller, job: JobRecord, kind: str) -> Response:
    """The generated files' links, or the reason there are none."""
    ids = {"generation_id": job.id, "model": requested_model(job)}
    if job.status is Status.SUCCEEDED:
        files = media_files(caller, job)
        first = files[0]["url"] if files else None
        return JSONResponse({**ids, f"{kind}s": files, f"{kind}_url": first})
    if not job.terminal:
        seconds = oxen_settings(caller).sync_timeout_seconds
        message = (
            f"the generation did not finish within {seconds:g} seconds; it goes on: "
            f"follow it at /v1/jobs/{job.id}"
        )
        return JSONResponse({**ids, "error": message, "status": status_word(job)}, 504)
    if job.status is Status.FAILED and job.error is not None:
        # Bad parameters are the caller's to fix; anything else failed on this side.
        code = 400 if job.error.code == "invalid_input" else 500
        return JSONResponse({**ids, "error": job.error.message, "status": "failed"}, code)
    word = "cancelled" if job.status is Status.CANCELED else job.status.value
    return JSONResponse({**ids, "error": f"the generation was {word}", "status": word}, 409)


def media_files(caller: Caller, job: JobRecord) -> list[dict[str, Any]]:
    links = caller.links.outputs(job)
    return [media_entry(output, link) for output, link in zip(job.outputs, links, strict=True)]
