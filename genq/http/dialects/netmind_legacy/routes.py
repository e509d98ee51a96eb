"""NetMind's legacy job API: ``/v1/netmind-video-job`` and ``/v1/netmind-image-job``.

A job names no model, only a job type (``text2video`` on the video endpoint, ``text2image`` on
the image one); the job types are aliases of local models. The job keeps the request as the
vendor normalized it, defaults filled in, and echoes it as ``meta_info.original_request``.
Each endpoint sees only its own jobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from genq.errors import Missing, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import (
    dialect_router,
    json_body,
    json_object,
    origin_request,
    own_job,
    submit_translated,
    updated_at,
    utc_text,
)
from genq.http.dialects.netmind.errors import errors, render_error
from genq.http.dialects.netmind_legacy import DIALECT
from genq.http.openapi import CALLER, SUBMIT, json_request
from genq.http.responses import JSONResponse
from genq.http.routing import Query
from genq.jobs import JobRecord, OutputRecord, Status
from genq.service import MAX_PAGE, MAX_PAGE_NUMBER, JobFilter

SETTINGS_NAME = DIALECT.name

STATUSES = {
    Status.QUEUED: "initializing",
    Status.RUNNING: "running",
    Status.SUCCEEDED: "succeed",
    Status.FAILED: "failed",
    Status.CANCELED: "failed",
    Status.EXPIRED: "failed",
}

#: Why a job that ended without running to completion has no outputs.
ENDINGS = {
    Status.CANCELED: ("canceled", "the job was canceled"),
    Status.EXPIRED: ("expired", "the job expired before it finished"),
}

#: What the vendor fills in for a video job's config and settings when the request omits them.
VIDEO_DEFAULTS: dict[str, Any] = {
    "negative_prompt": None,
    "gen_mode": "standard",
    "is_public": True,
    "use_ff_cond": None,
    "is_enable_prompt_enhancer": None,
}
VIDEO_SETTINGS: dict[str, Any] = {
    "seed": -1,
    "aspect_ratio": "16:9",
    "resolution": 720,
    "duration": 4,
}


def with_defaults(given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``given`` with the defaults for what it lacks or leaves null."""
    return {**given, **{k: v for k, v in defaults.items() if given.get(k) is None}}


def video_config(config: dict[str, Any]) -> dict[str, Any]:
    settings = json_object(config.get("settings") or {}, "config/settings")
    return with_defaults(
        {**config, "settings": with_defaults(settings, VIDEO_SETTINGS)}, VIDEO_DEFAULTS
    )


def image_config(config: dict[str, Any]) -> dict[str, Any]:
    settings = json_object(config.get("settings") or {}, "config/settings")
    counts = json_object(config.get("config") or {}, "config/config")
    return with_defaults(
        {**config, "settings": settings, "config": with_defaults(counts, {"image_number": 1})},
        {"negative_prompt": None},
    )


@dataclass(frozen=True)
class Endpoint:
    """One of the two job endpoints: its path, the job type it takes and how it fills in
    a request's config."""

    path: str
    job_type: str
    normalize: Callable[[dict[str, Any]], dict[str, Any]]
    thumbnails: bool

    @property
    def api(self) -> str:
        """The jobs' origin: each endpoint lists only its own jobs."""
        return self.path.rsplit("/", 1)[-1]


VIDEO = Endpoint("/v1/netmind-video-job", "text2video", video_config, thumbnails=True)
IMAGE = Endpoint("/v1/netmind-image-job", "text2image", image_config, thumbnails=False)

router = dialect_router(render_error, tag=DIALECT.title)


def normalized_request(endpoint: Endpoint, body: Any) -> dict[str, Any]:
    """The request with the vendor's defaults filled in, or a 422 naming what is wrong."""
    body = json_object(body, "body")
    if body.get("job_type") != endpoint.job_type:
        raise ValidationFailed.at(
            "job_type",
            f"must be {endpoint.job_type!r} on {endpoint.path}, not {body.get('job_type')!r}",
        )
    config = json_object(body.get("config"), "config")
    prompt = config.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationFailed.at("config/prompt", "required: a non-empty string")
    return {**body, "config": endpoint.normalize(config)}


def model_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The fields the input translation reads: the prompts, the settings (seed, aspect ratio,
    resolution, duration) and the image count."""
    fields: dict[str, Any] = {**config["settings"], "prompt": config["prompt"]}
    if config.get("negative_prompt") is not None:
        fields["negative_prompt"] = config["negative_prompt"]
    if "config" in config:
        fields["image_number"] = config["config"].get("image_number")
    return fields


def output_id(output: OutputRecord) -> str:
    """A stable id for one output: its storage key names it uniquely."""
    return hashlib.sha256(output.key.encode()).hexdigest()[:32]


def outputs(caller: Caller, endpoint: Endpoint, job: JobRecord) -> dict[str, Any] | list[Any]:
    if not job.terminal:
        return {}
    links = caller.links.outputs(job)
    rendered = []
    for output, link in zip(job.outputs, links, strict=True):
        item: dict[str, Any] = {"id": output_id(output), "media_url": link.url}
        if endpoint.thumbnails:
            item["thumbnail_url"] = link.thumbnail
        rendered.append(item)
    return rendered


def meta_info(job: JobRecord) -> dict[str, Any]:
    info: dict[str, Any] = {"model_id": job.model, "original_request": origin_request(job)}
    if job.finished_at is not None:
        info["update_at"] = utc_text(job.finished_at)
    if job.error is not None:
        info["error"] = {"code": job.error.code, "message": job.error.message}
    elif job.status in ENDINGS:
        code, message = ENDINGS[job.status]
        info["error"] = {"code": code, "message": message}
    return info


def render(caller: Caller, endpoint: Endpoint, job: JobRecord) -> dict[str, Any]:
    request = origin_request(job)
    return {
        "job_id": job.id,
        "user_id": job.account_id,
        "name": text(request.get("name")),
        "description": text(request.get("description")),
        "payment_type": "usd",
        "status": STATUSES[job.status],
        "meta_info": meta_info(job),
        "created_at": utc_text(job.created_at, sep="T"),
        "updated_at": utc_text(updated_at(job), sep="T"),
        "deleted_at": None,
        "is_deleted": False,
        "outputs": outputs(caller, endpoint, job),
    }


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


async def endpoint_job(caller: Caller, endpoint: Endpoint, job_id: str) -> JobRecord:
    try:
        return await own_job(caller, job_id, endpoint.api)
    except Missing:
        raise Missing(f"no job {job_id!r} on {endpoint.path}", code="job_not_found") from None


def create_request(endpoint: Endpoint) -> dict[str, Any]:
    """The JSON schema of an endpoint's create request, for the OpenAPI document."""
    config = {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1},
            "negative_prompt": {"type": ["string", "null"]},
            "settings": {"type": ["object", "null"]},
        },
    }
    return {
        "type": "object",
        "required": ["job_type", "config"],
        "properties": {
            "job_type": {"type": "string", "enum": [endpoint.job_type]},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "config": config,
        },
    }


def add_routes(endpoint: Endpoint, kind: str) -> None:
    """Create, list, get and delete on one endpoint."""

    @router.post(
        endpoint.path,
        summary=f"NetMind legacy: create a {kind} job",
        responses=errors(*CALLER, *SUBMIT),
        openapi_extra=json_request(create_request(endpoint)),
    )
    async def create_job(request: Request, caller: Auth) -> Response:
        normalized = normalized_request(endpoint, await json_body(request))
        job, _ = await submit_translated(
            caller,
            endpoint.api,
            endpoint.job_type,
            model_fields(normalized["config"]),
            request=normalized,
            settings_name=SETTINGS_NAME,
            root="config",
        )
        return JSONResponse(render(caller, endpoint, job))

    @router.get(
        endpoint.path,
        summary=f"NetMind legacy: list {kind} jobs, newest first",
        responses=errors(*CALLER, 422),
    )
    async def list_jobs(
        caller: Auth,
        page: int = Query(1, ge=1, le=MAX_PAGE_NUMBER),
        page_size: int = Query(10, ge=1, le=MAX_PAGE),
    ) -> Response:
        jobs, total = await caller.svc.page_jobs(
            caller.account_id, JobFilter(origin_api=endpoint.api), page=page, page_size=page_size
        )
        job_list = [render(caller, endpoint, job) for job in jobs]
        return JSONResponse({"total_count": total, "job_list": job_list})

    @router.get(
        f"{endpoint.path}/{{job_id}}",
        summary=f"NetMind legacy: get a {kind} job",
        responses=errors(*CALLER, 404),
    )
    async def get_job(caller: Auth, job_id: str) -> Response:
        return JSONResponse(render(caller, endpoint, await endpoint_job(caller, endpoint, job_id)))

    @router.delete(
        f"{endpoint.path}/{{job_id}}",
        summary=f"NetMind legacy: delete a {kind} job",
        responses=errors(*CALLER, 404),
    )
    async def delete_job(caller: Auth, job_id: str) -> Response:
        """Deletes the job and its files, stopping it first if it runs."""
        job = await endpoint_job(caller, endpoint, job_id)
        await caller.svc.delete(caller.account_id, job.id)
        return JSONResponse({})


add_routes(VIDEO, "video")
add_routes(IMAGE, "image")
