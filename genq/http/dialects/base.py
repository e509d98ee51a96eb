"""What every vendor dialect shares: its own error shape, lenient JSON bodies, submitting a
vendor request as a job of the one job service, and the vendors' time formats.

A dialect is a module with a ``router`` (made by ``dialect_router``) whose routes call the
job service and nothing below it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from genq.errors import BadRequest, GenqError, ValidationFailed
from genq.http.auth import Caller
from genq.http.dialects.inputs import model_input
from genq.jobs import Job
from genq.models.base import fill_defaults
from genq.settings import DialectSettings

ErrorRenderer = Callable[[GenqError], Response]


def dialect_router(render_error: ErrorRenderer, tag: str) -> APIRouter:
    """A router whose errors, from its routes and their dependencies (authentication,
    parameters), answer in the dialect's own shape rather than the native one."""

    class DialectRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except GenqError as exc:
                    return render_error(exc)
                except RequestValidationError as exc:
                    return render_error(from_request_validation(exc))

            return route

    return APIRouter(route_class=DialectRoute, tags=[tag])


def from_request_validation(exc: RequestValidationError) -> GenqError:
    details = [
        {"path": "/".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]
    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details)
    return ValidationFailed(f"invalid request: {summary}", details=details)


async def json_body(request: Request) -> Any:
    """The body as JSON, whatever its Content-Type says: the vendors' own examples send JSON
    with curl's ``--data-raw`` and no Content-Type, which curl marks as a form."""
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from None


def json_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(
            f"invalid request: {path} must be a JSON object",
            details=[{"path": path, "message": "must be a JSON object"}],
        )
    return value


def dialect_settings(caller: Caller, name: str) -> DialectSettings:
    settings: DialectSettings = getattr(caller.svc.settings.dialects, name)
    return settings


async def submit_translated(
    caller: Caller,
    api: str,
    model: str,
    fields: dict[str, Any],
    *,
    request: dict[str, Any] | None = None,
    strict: bool = False,
    idempotency_key: str | None = None,
    settings_name: str | None = None,
) -> tuple[Job, bool]:
    """Submit a vendor request for ``model`` (an alias or a model's own name) as a job.

    The alias's vendor schema, if any, checks ``fields`` first (and fills its defaults);
    then the fields are translated into the model's inputs (see ``inputs.model_input``). The
    job keeps ``request`` (by default the fields) to answer later in the dialect's terms.
    """
    target, alias = caller.svc.registry.resolve(model)
    if alias is not None and alias.input_schema is not None:
        alias.check(fields)
        fields = fill_defaults(alias.input_schema, fields)
    input = model_input(fields, target, alias, strict=strict)
    settings = dialect_settings(caller, settings_name or api)
    return await caller.svc.submit(
        caller.account_id,
        model,
        input,
        idempotency_key=idempotency_key,
        api=api,
        request=fields if request is None else request,
        retention_seconds=settings.retention_seconds,
    )


def modality(caller: Caller, job: Job) -> str:
    """What the job's model makes: image, video, audio, text (or none)."""
    try:
        return str(caller.svc.registry.get(job.model).model.modality)
    except GenqError:  # a model taken out of the config since
        return "none"


def requested_model(job: Job) -> str:
    """The model name the job's caller used: an alias, or the model's own name."""
    return job.origin.model if job.origin is not None else job.model


def origin_request(job: Job) -> dict[str, Any]:
    return job.origin.request if job.origin is not None else {}


def updated_at(job: Job) -> float:
    return job.finished_at or job.started_at or job.created_at


def utc_text(timestamp: float | None, sep: str = " ", fraction: bool = False) -> str | None:
    """``2025-09-18 09:14:20``-style UTC time (``sep="T"`` for ISO 8601 without a zone)."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
    return moment.isoformat(sep=sep, timespec="microseconds" if fraction else "seconds")


def absolute(caller: Caller, path: str) -> str:
    return caller.base_url.rstrip("/") + path
