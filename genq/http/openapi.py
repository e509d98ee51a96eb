"""The OpenAPI document: written from the routes' declarations (``genq.http.routing``), with
what each says it answers: the native error shape as a model, and the error responses of a
route, built from a surface's error model.

Each API surface answers every error in one shape of its own: the native API
``{"error": {"code", "message", "details"?}}``, each vendor dialect its vendor's (the model
beside its ``render_error``). A route lists the statuses it may answer with
``error_responses``, so that the document says what the server does; the tests check real
answers against it (tests/http/test_openapi.py).
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from genq.http.routing import Operation

#: What each error status means, whichever surface answers it.
MEANINGS = {
    400: "The body is not JSON, or the request is malformed.",
    401: "No API key, or an unknown or disabled one.",
    402: "The account's credits do not cover the job's estimate.",
    403: "The link's signature does not match, or the link has expired; or (a submit) the "
    "account's stored outputs hold its storage quota (quota_exceeded).",
    404: "No such job, model or file, or it is past its retention.",
    409: "The job's state, or the Idempotency-Key's first request, forbids it.",
    413: "The body is larger than max_body_bytes.",
    416: "No byte of the requested Range is in the file.",
    422: "A field, parameter or header is invalid; the error names each one.",
    429: "Too many requests: the key's rate limit is spent (retry after Retry-After seconds), "
    "or the account has as many jobs queued as it may.",
    503: "The database cannot be reached, the model cannot run here now, or (a submit) the "
    "server's disk is too full for new jobs (storage_full, with Retry-After): retry later.",
}

#: What every route that takes an API key may answer: no key (or a bad one), the key's rate
#: limit spent, and the database out of reach (the key is looked up in it).
CALLER = (401, 429, 503)
#: What a route that reads a JSON body may answer besides: not JSON, too large, invalid.
BODY = (400, 413, 422)
#: What a submit may answer besides: no credits for it, its account's quota used up, no such
#: model.
SUBMIT = (*BODY, 402, 403, 404)

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


def operation_id(operation: Operation) -> str:
    """FastAPI's operation ids: the function's name, the path and the method."""
    path = re.sub(r":\w+}", "}", operation.path)
    return re.sub(r"\W", "_", f"{operation.endpoint.__name__}{path}") + (
        f"_{operation.method.lower()}"
    )


def document_path(path: str) -> str:
    """The path as the document writes it: ``{name}`` for ``{name:rest}``."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def openapi_document(
    operations: Iterable[Operation], *, title: str, version: str, description: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``: each with its parameters, body and every
    answer it declares, the error models as shared components."""
    operations = [operation for operation in operations if operation.documented]
    models: dict[type[BaseModel], None] = {}
    for operation in operations:
        for answer in operation.responses.values():
            if "model" in answer:
                models[answer["model"]] = None
    refs, definitions = models_json_schema(
        [(model, "serialization") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        item = paths.setdefault(document_path(operation.path), {})
        item[operation.method.lower()] = describe(operation, refs)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "description": description, "version": version},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }
    return document


def describe(operation: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    described: dict[str, Any] = {"operationId": operation_id(operation)}
    if operation.tags:
        described["tags"] = list(operation.tags)
    if operation.summary:
        described["summary"] = operation.summary
    if operation.endpoint.__doc__:
        described["description"] = inspect.cleandoc(operation.endpoint.__doc__)
    if operation.plan.parameters:
        described["parameters"] = [p.schema() for p in operation.plan.parameters]
    success: dict[str, Any] = {"description": "Successful Response"}
    if operation.answers_json:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {str(operation.status_code): success}
    for status, declared in operation.responses.items():
        # A copy: the declarations are shared by routes, and the document is the caller's.
        answer = copy.deepcopy({k: v for k, v in declared.items() if k != "model"})
        if "model" in declared:
            schema = refs[(declared["model"], "serialization")]
            answer.setdefault("content", {})["application/json"] = {"schema": schema}
        json_body = answer.get("content", {}).get("application/json")
        if json_body == {}:
            json_body["schema"] = {"type": "object"}  # every JSON answer is an object
        if "description" not in answer and str(status) not in responses:
            raise ValueError(f"{operation.path}: answer {status} has no description")
        responses[str(status)] = {**responses.get(str(status), {}), **answer}
    described["responses"] = responses
    if operation.secured:
        described["security"] = [{"bearer": []}, {"apiKey": []}]
    if operation.openapi_extra:
        described.update(operation.openapi_extra)
    return described
