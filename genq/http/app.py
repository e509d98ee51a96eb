"""The ASGI application: routes, error shapes, body limit, and the server's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import genq.http.paths  # noqa: F401 - registers {name:rest} before any route uses it
from genq import __version__
from genq.errors import PayloadTooLarge, ServiceError
from genq.http import native
from genq.http.dialects.registry import include_dialects
from genq.http.openapi import FILE_ANSWERS, native_errors
from genq.http.responses import FileDownload, JSONResponse, request_invalid
from genq.service import JobService
from genq.settings import Settings
from genq.storage import FileStorage
from genq.worker.supervisor import Supervisor

log = logging.getLogger("genq.http")


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


class BodyLimit:
    """Refuse bodies over the limit, whether announced by Content-Length or not: reading one
    raises ``PayloadTooLarge`` (413), which the route answers in its own API's error shape.
    An announced one is refused before a byte of it is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                seen = int(value)

        async def limited() -> Message:
            nonlocal seen
            if seen > self.limit:
                raise PayloadTooLarge(f"the body exceeds {self.limit} bytes")
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise PayloadTooLarge(f"the body exceeds {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


class Unexpected:
    """Answer a defect with a 500 in genq's error shape and keep the connection.

    Starlette's handler for ``Exception`` runs in its outermost middleware, which re-raises
    after answering, and the server then drops the keep-alive connection: this one sits
    inside it and ends the exception here, logged once with its traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ClientDisconnect:
            # The client hung up before its body was read: nobody to answer, nothing wrong.
            log.info("client went away during %s %s", scope["method"], scope["path"])
        except Exception:
            if started:  # too late for an answer of our own: the server logs and drops it
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)


#: FastAPI's own OpenTelemetry tracing, metrics and logs, all off.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def otel_wanted() -> bool:
    """Whether FastAPI is to report to OpenTelemetry: when its own switch,
    ``FASTAPI_OTEL_AUTO_CONFIGURE=true``, is set."""
    return os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true"


def create_app(
    service: JobService,
    supervisor: Supervisor | None = None,
    *,
    settings: Settings,
    storage: FileStorage,
) -> FastAPI:
    """The application of ``service``, built from ``settings`` and the ``storage`` whose files
    it links to, with ``supervisor``'s workers living as long as it, if given."""
    # The docs pages (/docs, /redoc) load their scripts, styles and icon from genq itself,
    # not from a CDN: they work on a machine without internet access.
    app = FastAPIOffline(
        title="genq",
        version=__version__,
        description="Asynchronous inference for generative media models.",
        lifespan=lifetime(service, supervisor, settings),
        static_url="/docs/assets",
        # Swagger UI would otherwise send the document to an online validator.
        swagger_ui_parameters={"validatorUrl": None},
        # FastAPI asks OpenTelemetry for its providers on every request, a tenth of the cost
        # of a status read; it reports only where FastAPI's own switch asks it to.
        telemetry=None if otel_wanted() else NO_TELEMETRY,
    )
    app.state.service = service
    app.state.storage = storage
    app.include_router(native.router)
    include_dialects(app, settings)
    document_auth(app)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Unexpected)

    @app.get("/healthz", summary="Liveness and readiness")
    async def healthz() -> JSONResponse:
        workers = None if supervisor is None else len(supervisor.workers)
        return JSONResponse({"status": "ok", "version": __version__, "workers": workers})

    add_signed_files(app, service)
    return app


def lifetime(
    service: JobService, supervisor: Supervisor | None, settings: Settings
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The server's lifespan: the workers, the service and its sweeps start with it and stop
    with it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if supervisor is not None:
            await supervisor.start()
        await service.start()
        sweeper = asyncio.create_task(sweep_forever(service, settings.sweep_interval_seconds))
        # Everything made at start-up lives as long as the server: keep it out of the
        # collector's way, or each full collection walks the whole import graph again.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            sweeper.cancel()
            if supervisor is not None:
                await supervisor.stop(settings.cancel_grace_seconds)
            await service.close()

    return lifespan


def add_signed_files(app: FastAPI, service: JobService) -> None:
    """``/files/KEY``: the files genq serves itself, through the links it signed."""
    file_answers = {**FILE_ANSWERS, **native_errors(403, 404, 416, 503)}

    @app.get(
        "/files/{key:rest}",
        summary="Download a result file through a signed link",
        response_class=Response,
        responses=file_answers,
    )
    @app.head(
        "/files/{key:rest}",
        summary="A signed link's headers (size, type), no body",
        response_class=Response,
        responses=file_answers,
    )
    async def signed_file(
        key: str,
        expires: str | None = Query(None),
        signature: str | None = Query(None),
    ) -> FileDownload:
        path, content_type = await service.signed_file(key, expires, signature)
        return FileDownload(path, media_type=content_type)


def document_auth(app: FastAPI) -> None:
    """Declare the API key schemes in the OpenAPI document (checked by ``authenticated``, not
    by per-request security dependencies, which cost time on every call); say that every JSON
    answer is an object, and drop FastAPI's own validation error, which genq never answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            }
            for path, operations in schema["paths"].items():
                # Every route takes a key but health and signed file links.
                if not path.startswith(("/healthz", "/files/")):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}, {"apiKey": []}]
            answers_are_objects(schema)
            drop_fastapi_validation_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def answers_are_objects(schema: dict[str, Any]) -> None:
    """Say of each JSON answer the routes leave undescribed that it is an object: every answer
    of every surface is one."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for answer in operation["responses"].values():
                body = answer.get("content", {}).get("application/json")
                if body is not None and not body.get("schema"):
                    body["schema"] = {"type": "object"}


def drop_fastapi_validation_errors(schema: dict[str, Any]) -> None:
    """Take out the 422 FastAPI documents on its own (its ``HTTPValidationError``) for each
    route with parameters: genq never answers in that shape. A route that can refuse its
    parameters declares the 422 in its surface's own shape, which FastAPI then leaves alone."""
    fastapi_422 = "#/components/schemas/HTTPValidationError"
    for operations in schema["paths"].values():
        for operation in operations.values():
            refused = operation["responses"].get("422", {})
            if refused.get("content", {}).get("application/json", {}).get("schema") == {
                "$ref": fastapi_422
            }:
                del operation["responses"]["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def genq_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return error_response(400, "invalid_json", "the body is not valid JSON")
        failed = request_invalid(exc.errors())
        return error_response(422, failed.code, failed.message, failed.details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))


async def sweep_forever(service: JobService, interval: float) -> None:
    while True:
        try:
            await service.sweep()
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(interval)
