"""What every vendor dialect shares: its own error shape, lenient JSON bodies, submitting a
vendor request as a job of the one job service, and the vendors' time formats.

A dialect is a package (see ``dialect.py``, ``registry.py``) whose routes module has a
``router`` made by ``dialect_router``; its routes call the job service's public methods and
nothing below it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from genq.errors import Clash, Missing, ServiceError, ValidationFailed
from genq.http.auth import Caller
from genq.http.dialects.dialect import DialectSettings, DialectTable
from genq.http.dialects.inputs import model_input
from genq.http.routing import ErrorRenderer, Router
from genq.jobs import JobRecord
from genq.limits import parse_json
from genq.models.base import fill_defaults
from genq.service import JobService

#: How often a request that waits for its job checks that its client is still there.
SYNC_CHECK_SECONDS = 5.0


def dialect_router(render_error: ErrorRenderer, tag: str) -> Router:
    """A router whose errors, from its routes and what they read (the caller's key, the
    parameters, the body), answer in the dialect's own shape rather than the native one."""
    return Router(render_error=render_error, tags=[tag])


async def json_body(request: Request) -> Any:
    """The body as JSON, whatever its Content-Type says: the vendors' own examples send JSON
    with curl's ``--data-raw`` and no Content-Type, which curl marks as a form."""
    raw = await request.body()
    service: JobService = request.app.state.service
    return parse_json(raw, service.max_json_depth)


def json_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(
            f"invalid request: {path} must be a JSON object",
            details=[{"path": path, "message": "must be a JSON object"}],
        )
    return value


def dialect_settings(caller: Caller, name: str) -> DialectSettings:
    """The settings of the dialect ``name``, as the app mounted its routes with them."""
    dialects: DialectTable = caller.request.app.state.dialects
    return dialects[name]


def translate(
    caller: Caller,
    model: str,
    fields: dict[str, Any],
    *,
    strict: bool = False,
    root: str,
    verbatim: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's input for a vendor request's fields, and the fields with the defaults of
    the alias's vendor schema (checked first, when the alias has one). ``verbatim``: the
    fields are the model's own inputs, passed as they are (the model's schema checks them)."""
    target, alias = caller.svc.resolve(model)
    if alias is not None and alias.input_schema is not None:
        alias.check(fields, root)
        fields = fill_defaults(alias.input_schema, fields)
    if verbatim:
        return fields, fields
    return model_input(fields, target, strict=strict, root=root), fields


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
    root: str = "input",
    webhook: str | None = None,
    webhook_events: Sequence[str] | None = None,
    start_deadline: float | None = None,
    timeout: float | None = None,
    priority: int = 0,
    verbatim: bool = False,
) -> tuple[JobRecord, bool]:
    """Submit a vendor request for ``model`` (an alias or a model's own name) as a job.

    The alias's vendor schema, if any, checks ``fields`` first (and fills its defaults);
    then the fields are translated into the model's inputs (see ``inputs.model_input``). The
    job keeps ``request`` (by default the fields) to answer later in the dialect's terms.
    ``root`` is where the fields sit in the vendor's request, for the paths errors name.
    ``webhook`` (called on ``webhook_events``, genq's names), ``start_deadline``,
    ``timeout`` and ``priority`` are the native submit's. ``verbatim``: the fields are the
    model's own inputs (a vendor whose requests carry them as the model defines them), not
    translated.
    """
    input, fields = translate(caller, model, fields, strict=strict, root=root, verbatim=verbatim)
    settings = dialect_settings(caller, settings_name or api)
    return await caller.svc.submit(
        caller.account_id,
        model,
        input,
        idempotency_key=idempotency_key,
        api=api,
        request=fields if request is None else request,
        retention_seconds=settings.retention_seconds,
        webhook=webhook,
        webhook_events=webhook_events,
        start_deadline=start_deadline,
        timeout=timeout,
        priority=priority,
    )


async def submit_translated_group(
    caller: Caller,
    api: str,
    model: str,
    parts: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    root: str = "input",
) -> list[JobRecord]:
    """Submit several vendor requests for ``model``, each a ``(fields, request)`` pair, as
    ``submit_translated`` does one, all or none."""
    translated = [
        (translate(caller, model, fields, root=root)[0], request) for fields, request in parts
    ]
    return await caller.svc.submit_group(
        caller.account_id,
        model,
        translated,
        api=api,
        retention_seconds=dialect_settings(caller, api).retention_seconds,
    )


async def own_job(caller: Caller, job_id: str, *apis: str) -> JobRecord:
    """The caller's job, if it was submitted through one of ``apis``: a dialect reads and
    changes only its own jobs (all of them are in the native API); others are not found."""
    job = await caller.svc.get(caller.account_id, job_id)
    if job.origin is None or job.origin.api not in apis:
        raise Missing(f"no job {job_id!r}", code="job_not_found")
    return job


def modality(caller: Caller, job: JobRecord) -> str:
    """What the job's model makes: image, video, audio, text (or none)."""
    try:
        return str(caller.svc.model(job.model).model.modality)
    except ServiceError:  # a model taken out of the config since
        return "none"


def requested_model(job: JobRecord) -> str:
    """The model name the job's caller used: an alias, or the model's own name."""
    return job.origin.model if job.origin is not None else job.model


def origin_request(job: JobRecord) -> dict[str, Any]:
    return job.origin.request if job.origin is not None else {}


def updated_at(job: JobRecord) -> float:
    return job.finished_at or job.started_at or job.created_at


def utc_text(timestamp: float | None, sep: str = " ") -> str | None:
    """``2025-09-18 09:14:20``-style UTC time (``sep="T"`` for ISO 8601 without a zone)."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
    return moment.isoformat(sep=sep, timespec="seconds")


def absolute(caller: Caller, path: str) -> str:
    return caller.base_url.rstrip("/") + path


async def wait_for_end(
    request: Request, caller: Caller, job: JobRecord, seconds: float, *, cancel_if_gone: bool
) -> JobRecord | None:
    """The job once terminal, or as it is after ``seconds``; None once its client went away
    first. Then, with ``cancel_if_gone``, the job is canceled (a synchronous request's job,
    which nobody would collect); otherwise it goes on, to be followed by its id."""
    deadline = time.monotonic() + seconds
    while not job.terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        job = await caller.svc.wait(caller.account_id, job.id, min(left, SYNC_CHECK_SECONDS))
        if not job.terminal and await request.is_disconnected():
            if cancel_if_gone:
                with contextlib.suppress(Missing, Clash):
                    await caller.svc.cancel(caller.account_id, job.id)
            return None
    return job
