"""NetMind's error shape, shared by its generation API and its legacy job API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from genq.errors import ServiceError
from genq.http.openapi import error_responses
from genq.http.responses import JSONResponse


def render_error(exc: ServiceError) -> Response:
    """NetMind's API answers errors as ``{"detail": ...}``; the code is added so that a
    client can tell errors apart without parsing the message."""
    body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
    if exc.details is not None:
        body["errors"] = exc.details
    return JSONResponse(body, status_code=exc.status_code)


class NetMindError(BaseModel):
    """NetMind's error shape, as ``render_error`` answers it."""

    model_config = ConfigDict(extra="forbid")

    detail: str
    code: str = Field(description="genq's machine-readable code: generation_not_found, ...")
    errors: Any = Field(default=None, description="validation_error: each failing field.")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error answers in NetMind's shape (shared by the legacy job API)."""
    return error_responses(NetMindError, *statuses)
