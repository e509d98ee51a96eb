"""Replicate's error shape: problem details (RFC 7807) ``{"title", "detail", "status"}``,
which its client reads into ``ReplicateError``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from genq.errors import ServiceError
from genq.http.openapi import error_responses
from genq.http.responses import JSONResponse

TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    402: "Insufficient credit",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    422: "Input validation failed",
    429: "Too many requests",
    503: "Service unavailable",
}


class InvalidField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    field: str = Field(description="The failing field's path: input/prompt, webhook, ...")
    description: str


class ReplicateError(BaseModel):
    """Replicate's error shape, as ``render_error`` answers it."""

    model_config = ConfigDict(extra="forbid")

    title: str
    detail: str
    status: int
    code: str = Field(description="genq's machine-readable code: model_not_found, ...")
    invalid_fields: list[InvalidField] | None = Field(
        default=None, description="A 422: each failing field."
    )


def render_error(exc: ServiceError) -> Response:
    body: dict[str, Any] = {
        "title": TITLES.get(exc.status_code, "Internal server error"),
        "detail": exc.message,
        "status": exc.status_code,
        "code": exc.code,
    }
    if isinstance(exc.details, list):
        body["invalid_fields"] = [
            {"type": "invalid", "field": str(d.get("path", "")), "description": str(d["message"])}
            for d in exc.details
            if isinstance(d, dict) and "message" in d
        ]
    return JSONResponse(body, status_code=exc.status_code)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(ReplicateError, *statuses)
