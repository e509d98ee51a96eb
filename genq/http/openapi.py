"""What the OpenAPI document says genq answers: the native error shape as a model, and the
error responses of a route, built from a surface's error model.

Each API surface answers every error in one shape of its own: the native API
``{"error": {"code", "message", "details"?}}``, each vendor dialect its vendor's (the model
beside its ``render_error``). A route lists the statuses it may answer with
``error_responses``, so that the document says what the server does; the tests check real
answers against it (tests/http/test_openapi.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: What each error status means, whichever surface answers it.
MEANINGS = {
    400: "The body is not JSON, or the request is malformed.",
    401: "No API key, or an unknown or disabled one.",
    402: "The account's credits do not cover the job's estimate.",
    403: "The link's signature does not match, or the link has expired.",
    404: "No such job, model or file, or it is past its retention.",
    409: "The job's state, or the Idempotency-Key's first request, forbids it.",
    413: "The body is larger than max_body_bytes.",
    416: "No byte of the requested Range is in the file.",
    422: "A field, parameter or header is invalid; the error names each one.",
    503: "The database cannot be reached, or the model cannot run here now: retry later.",
}

#: What every route that takes an API key may answer: no key (or a bad one), and the
#: database out of reach (the key is looked up in it).
CALLER = (401, 503)
#: What a route that reads a JSON body may answer besides: not JSON, too large, invalid.
BODY = (400, 413, 422)
#: What a submit may answer besides: no credits for it, no such model.
SUBMIT = (*BODY, 402, 404)

_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
#: A file download's answers but its errors: the whole file, or the byte ranges of a
#: ``Range`` header. Its routes declare ``answers_json=False``.
FILE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file, in its own content type.", "content": _BYTES},
    206: {"description": "The byte ranges a Range header asked for.", "content": _BYTES},
}
#: A server-sent event stream's answer (a route with ``answers_json=False``).
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A stream of server-sent events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Machine-readable: job_not_found, validation_error, ...")
    message: str = Field(description="For people; quotes of the refused value are shortened.")
    details: Any = Field(
        default=None,
        description="More, when there is more: a validation_error lists each failing field "
        "as {path, message}.",
    )


class Error(BaseModel):
    """The native API's error shape."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


def error_responses(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for these error statuses, each answered as ``model``."""
    return {status: {"model": model, "description": MEANINGS[status]} for status in statuses}


def native_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(Error, *statuses)


def json_request(schema: dict[str, Any]) -> dict[str, Any]:
    """A route's ``openapi_extra=`` for the JSON body it reads itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
