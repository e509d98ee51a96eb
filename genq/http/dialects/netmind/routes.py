"""NetMind's asynchronous inference API: ``/v1/generation``.

One generic job API for any model: ``{"model": SLUG, "config": {...}}`` creates a generation,
which is polled until ``completed`` or ``failed``; its files are listed in ``result.data``.
The model's slug is an alias (``Qwen/Qwen-Image``, ``hkchengrex/MMAudio``) or a local model's
own name; config fields the model does not have are ignored, as the vendor ignores fields a
model does not use. A speech-to-text config (``{"task": "transcribe", "audio_url": URL,
"chunk_level": "segment"}``) gives the model its ``task``, ``audio`` and ``timestamps``; the
transcript is read from ``result.data[0].text``, as each plain-text file of a completed
generation carries its content (its first MiB, the service's ``MAX_TEXT_BYTES``) besides its
link.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from genq.errors import Missing, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    dialect_router,
    json_body,
    json_object,
    modality,
    own_job,
    submit_translated,
    updated_at,
    utc_text,
)
from genq.http.dialects.netmind import DIALECT
from genq.http.dialects.netmind.errors import errors, render_error
from genq.http.openapi import CALLER, SUBMIT, json_request
from genq.http.responses import JSONResponse
from genq.http.routing import Query
from genq.jobs import JobRecord, OutputRecord, Status
from genq.service import MAX_PAGE, MAX_PAGE_NUMBER, JobFilter

API = DIALECT.name

STATUSES = {
    Status.QUEUED: "pending",
    Status.RUNNING: "processing",
    Status.SUCCEEDED: "completed",
    Status.FAILED: "failed",
    Status.CANCELED: "failed",
    Status.EXPIRED: "failed",
}

#: Why a job that ended without running to completion has no files.
ENDINGS = {
    Status.CANCELED: ("canceled", "the generation was canceled"),
    Status.EXPIRED: ("expired", "the generation expired before it finished"),
}

FILE_TYPES = ("image", "video", "audio", "text")
#: NetMind's config names for inputs that models name otherwise: the field takes the model's
#: name when the model has an input of that name and none of NetMind's.
CONFIG_NAMES = {"audio_url": "audio", "chunk_level": "timestamps"}
#: Largest plain-text file whose content a listed generation carries: a page of them stays
#: small, and a generation read by its id carries the first MiB of any.
LISTED_TEXT_BYTES = 64 * 1024


router = dialect_router(render_error, tag=DIALECT.title)

CREATE_REQUEST = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {
            "type": "string",
            "description": "A model slug or a local model's name.",
            "examples": ["Qwen/Qwen-Image"],
        },
        "config": {"type": "object", "description": "The model's parameters."},
    },
}


def file_id(output: OutputRecord) -> str:
    """A stable id for one output file: its storage key names it uniquely."""
    return "file-" + hashlib.sha256(output.key.encode()).hexdigest()[:24]


def file_type(caller: Caller, job: JobRecord, output: OutputRecord) -> str:
    kind = output.content_type.split("/", 1)[0]
    return kind if kind in FILE_TYPES else modality(caller, job)


async def result(caller: Caller, job: JobRecord, listed: bool) -> dict[str, Any]:
    if job.status is Status.SUCCEEDED:
        links = caller.links.outputs(job)
        data = [
            {
                "url": link.url,
                "file_id": file_id(output),
                "file_name": output.key.rsplit("/", 1)[-1],
                "file_type": file_type(caller, job, output),
            }
            for output, link in zip(job.outputs, links, strict=True)
        ]
        if (found := await plain_text(caller, job, listed)) is not None:
            index, text = found
            data[index]["text"] = text
        return {"data": data}
    if job.error is not None:
        return {"error": {"code": job.error.code, "message": job.error.message}}
    if job.status in ENDINGS:
        code, message = ENDINGS[job.status]
        return {"error": {"code": code, "message": message}}
    return {}


async def plain_text(caller: Caller, job: JobRecord, listed: bool) -> tuple[int, str] | None:
    """The index and content (its first MiB) of a completed job's plain-text file (a
    transcript, a caption), when that is its first text file; in a list, only when it holds
    at most ``LISTED_TEXT_BYTES``. The service reads that one file and keeps its text."""
    for index, output in enumerate(job.outputs):
        if not output.content_type.startswith("text/"):
            continue
        media_type = output.content_type.split(";", 1)[0].strip().lower()
        if media_type != "text/plain" or (listed and output.size > LISTED_TEXT_BYTES):
            return None
        text = await caller.svc.output_text(job)
        return None if text is None else (index, text)
    return None


async def render(caller: Caller, job: JobRecord, *, listed: bool = False) -> dict[str, Any]:
    return {
        "id": job.id,
        "user_id": job.account_id,
        "status": STATUSES[job.status],
        "created_at": utc_text(job.created_at),
        "updated_at": utc_text(updated_at(job)),
        "deleted_at": None,
        "is_deleted": False,
        "result": await result(caller, job, listed),
    }


async def generation(caller: Caller, generation_id: str) -> JobRecord:
    try:
        return await own_job(caller, generation_id, API)
    except Missing:
        raise Missing(f"no generation {generation_id!r}", code="generation_not_found") from None


def parse_create(body: Any) -> tuple[str, dict[str, Any]]:
    """The model slug and config of a create request, or a 422 naming what is wrong."""
    body = json_object(body, "body")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValidationFailed(
            "invalid request: model is required (a model name such as Qwen/Qwen-Image)",
            details=[{"path": "model", "message": "required: a non-empty string"}],
        )
    config = json_object(body.get("config", {}), "config")
    return model.strip(), config


def model_names(caller: Caller, model: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config with NetMind's own names (``CONFIG_NAMES``) changed to the model's, where
    the model has the input under its name and not under NetMind's."""
    props = caller.svc.resolve(model)[0].model.input_schema.get("properties", {})
    renamed = dict(config)
    for theirs, ours in CONFIG_NAMES.items():
        if theirs in renamed and ours not in renamed and ours in props and theirs not in props:
            renamed[ours] = renamed.pop(theirs)
    return renamed


@router.post(
    "/v1/generation",
    summary="NetMind: create a generation",
    responses=errors(*CALLER, *SUBMIT),
    openapi_extra=json_request(CREATE_REQUEST),
)
async def create_generation(request: Request, caller: Auth) -> Response:
    model, config = parse_create(await json_body(request))
    job, _ = await submit_translated(
        caller,
        API,
        model,
        model_names(caller, model, config),
        request={"model": model, "config": config},
        root="config",
    )
    return JSONResponse(await render(caller, job))


@router.get(
    "/v1/generation",
    summary="NetMind: list generations, newest first",
    responses=errors(*CALLER, 422),
)
async def list_generations(
    caller: Auth,
    page: int = Query(1, ge=1, le=MAX_PAGE_NUMBER),
    page_size: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE),
) -> Response:
    jobs, _ = await caller.svc.page_jobs(
        caller.account_id, JobFilter(origin_api=API), page=page, page_size=page_size
    )
    listed = [await render(caller, job, listed=True) for job in jobs]
    return JSONResponse({"generation_list": listed})


@router.get(
    "/v1/generation/{generation_id}",
    summary="NetMind: get a generation",
    responses=errors(*CALLER, 404),
)
async def get_generation(caller: Auth, generation_id: str) -> Response:
    return JSONResponse(await render(caller, await generation(caller, generation_id)))


@router.delete(
    "/v1/generation/{generation_id}",
    summary="NetMind: delete a generation",
    responses=errors(*CALLER, 404),
)
async def delete_generation(caller: Auth, generation_id: str) -> Response:
    """Deletes the job and its files, stopping it first if it runs."""
    job = await generation(caller, generation_id)
    await caller.svc.delete(caller.account_id, job.id)
    return JSONResponse({"message": "Generation deleted"})
