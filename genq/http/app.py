"""The ASGI application: routes, error shapes, body limit, and the server's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genq import __version__, logs
from genq.errors import PayloadTooLarge, ServiceError
from genq.http import account, metrics, native, webhooks
from genq.http.auth import ANSWER_HEADERS
from genq.http.console import console_routes
from genq.http.dialects.registry import dialect_routers
from genq.http.docs import docs_routes
from genq.http.openapi import FILE_ANSWERS, native_errors, openapi_document
from genq.http.readiness import READINESS_ANSWERS
from genq.http.responses import FileDownload, JSONResponse
from genq.http.routing import IndexedRouter, Query, Router
from genq.metrics import Requests, answered_error
from genq.service import JobService
from genq.service.readiness import Readiness, Workers
from genq.settings import Settings
from genq.storage import FileStorage
from genq.worker.supervisor import Supervisor

log = logging.getLogger("genq.http")


REQUEST_ID = b"x-request-id"
#: A request id the client may choose: bounded, printable ASCII, no spaces.
CLIENT_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")
#: The ids made here: this process's random prefix and a count, unique as random ids are and
#: cheaper (a status read is the hot path).
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNT = itertools.count()


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


class Front:
    """What every request passes before its route, in one layer (Starlette's own stack is
    three, each wrapping ``send``, plus one more per route: together a tenth of a status
    read's CPU).

    - The body limit: a body over it, announced by Content-Length or not, raises
      ``PayloadTooLarge`` (413) when read, which the route answers in its own API's error
      shape. An announced one is refused before a byte of it is read.
    - The router's own refusals (no such path, a method a route does not take) and anything
      else a route leaves unanswered, in the native error shape.
    - A defect is answered with a 500 and the connection kept, logged once with its
      traceback (Starlette's outermost layer answered, re-raised, and the server dropped the
      keep-alive connection). Too late for an answer once the route started its own: the
      server logs it and drops the connection.
    - The request id: the client's ``X-Request-ID`` if it is sane (printable, at most 128
      characters), else a new one (24 hex digits); in the log's context while the request
      runs, and in every answer's headers, errors included.
    - The headers a route's dependency kept for the answer (``ANSWER_HEADERS``: a rate-limited
      key's ``RateLimit-*``), whatever the route answers.
    - The HTTP figures (``genq.metrics.Requests``): each answered request by method, route
      template and status, and its time to the answer's end. A request that got no answer
      (its client went away first) is not counted.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.requests = Requests()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        begun = time.perf_counter()
        limit = self.limit
        seen = 0
        rid = None
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                seen = int(value)
            elif name == REQUEST_ID and CLIENT_REQUEST_ID.fullmatch(value):
                rid = value
        if rid is None:
            made = f"{_ID_PREFIX}{next(_ID_COUNT):012x}"
            logs.request_id.set(made)
            rid = made.encode()
        else:
            logs.request_id.set(rid.decode())

        async def limited() -> Message:
            nonlocal seen
            if seen > limit:
                raise PayloadTooLarge(f"the body exceeds {limit} bytes")
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"the body exceeds {limit} bytes")
            return message

        status = 0  # the answer's, once it started

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: a response's headers may be a list it keeps.
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID, rid),
                    *scope.get(ANSWER_HEADERS, ()),
                ]
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except ClientDisconnect:
            # The client hung up before its body was read: nobody to answer, nothing wrong.
            log.info("client went away during %s %s", scope["method"], scope["path"])
        except Exception as exc:
            if status:
                raise
            await unanswered(exc, scope)(scope, receive, sending)
        finally:
            if status:
                route = scope.get("route")
                self.requests.answered(
                    scope["method"],
                    None if route is None else getattr(route, "path", None),
                    status,
                    time.perf_counter() - begun,
                )


def unanswered(exc: Exception, scope: Scope) -> Response:
    """The native answer to what escaped every route: a refusal of the router's or the
    service's, else a defect (logged)."""
    if isinstance(exc, HTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))
    if isinstance(exc, ServiceError):
        answered_error(exc)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers)
    log.exception("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


class GenqApp(Starlette):
    """The application, with the OpenAPI document of every route it serves (and ``pages``
    that are not part of the API), whose requests pass the ``Front`` layer (with
    ``body_limit``) on their way to the routes."""

    def __init__(
        self,
        routers: list[Router],
        *,
        body_limit: int,
        pages: Sequence[BaseRoute] = (),
        **options: Any,
    ) -> None:
        self.operations = [op for router in routers for op in router.operations]
        routes = [route for router in routers for route in router.routes()]
        super().__init__(routes=routes + docs_routes("genq") + list(pages), **options)
        self.router = IndexedRouter(self.router.routes, lifespan=self.router.lifespan_context)
        self.body_limit = body_limit
        self._document: dict[str, Any] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        return Front(self.router, self.body_limit)

    def openapi(self) -> dict[str, Any]:
        if self._document is None:
            self._document = openapi_document(
                self.operations,
                title="genq",
                version=__version__,
                description="Asynchronous inference for generative media models.",
            )
        return self._document


def create_app(
    service: JobService,
    supervisor: Supervisor | None = None,
    *,
    settings: Settings,
    storage: FileStorage,
) -> GenqApp:
    """The application of ``service``, built from ``settings`` and the ``storage`` whose files
    it links to, with ``supervisor``'s workers living as long as it, if given."""
    workers = None if supervisor is None else census(supervisor)
    readiness = Readiness(service.store, storage, workers, disk=service.disk)
    app = GenqApp(
        [
            native.router,
            account.router,
            metrics.router,
            webhooks.router,
            *dialect_routers(settings),
            own_routes(service, supervisor, readiness),
        ],
        pages=console_routes(settings, storage),
        lifespan=lifetime(service, supervisor, settings, readiness),
        body_limit=settings.max_body_bytes,
    )
    app.state.service = service
    app.state.storage = storage
    # Counted again at each scrape of /metrics (None: this process runs no workers).
    app.state.workers = workers
    app.state.dialects = settings.dialects
    return app


def census(supervisor: Supervisor) -> Callable[[], Workers]:
    """How many of ``supervisor``'s worker processes are alive, ready (they spoke) and busy."""

    def count() -> Workers:
        alive = [h for h in supervisor.workers if h.process.is_alive()]
        return Workers(
            alive=len(alive),
            ready=sum(1 for h in alive if h.ready),
            busy=sum(1 for h in alive if h.job_ids),
        )

    return count


def lifetime(
    service: JobService,
    supervisor: Supervisor | None,
    settings: Settings,
    readiness: Readiness | None = None,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """The server's lifespan: the workers, the service and its sweeps start with it and stop
    with it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if supervisor is not None:
            await supervisor.start()
        await service.start()
        sweeper = asyncio.create_task(sweep_forever(service, settings.sweep_interval_seconds))
        deadlines = asyncio.create_task(service.keep_start_deadlines())
        dispatcher = asyncio.create_task(webhooks.dispatch_webhooks(service, settings))
        # Everything made at start-up lives as long as the server: keep it out of the
        # collector's way, or each full collection walks the whole import graph again.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            sweeper.cancel()
            deadlines.cancel()
            dispatcher.cancel()
            try:
                if supervisor is not None:
                    await supervisor.stop(settings.cancel_grace_seconds)
            finally:
                await service.close()
                if readiness is not None:
                    readiness.close()

    return lifespan


def own_routes(
    service: JobService, supervisor: Supervisor | None, readiness: Readiness | None = None
) -> Router:
    """``/healthz`` (the process is alive), ``/readyz`` (it can serve: its store, storage and
    workers answer), and ``/files/KEY``: the files genq serves itself, through the links it
    signed. None takes an API key."""
    router = Router()

    @router.get("/healthz", summary="Liveness: the process answers", secured=False)
    async def healthz() -> JSONResponse:
        workers = None if supervisor is None else len(supervisor.workers)
        return JSONResponse({"status": "ok", "version": __version__, "workers": workers})

    if readiness is not None:
        ready = readiness

        @router.get(
            "/readyz",
            summary="Readiness: the store, the storage and the workers answer",
            responses=READINESS_ANSWERS,
            secured=False,
        )
        async def readyz() -> JSONResponse:
            report = await ready.report()
            return JSONResponse(report.to_dict(), status_code=200 if report.ready else 503)

    file_answers = {**FILE_ANSWERS, **native_errors(403, 404, 416, 503)}
    file_route = {"answers_json": False, "responses": file_answers, "secured": False}

    @router.get(
        "/files/{key:rest}", summary="Download a result file through a signed link", **file_route
    )
    @router.head(
        "/files/{key:rest}", summary="A signed link's headers (size, type), no body", **file_route
    )
    async def signed_file(
        key: str,
        expires: str | None = Query(None),
        signature: str | None = Query(None),
    ) -> FileDownload:
        path, content_type = await service.signed_file(key, expires, signature)
        return FileDownload(path, media_type=content_type)

    return router


async def sweep_forever(service: JobService, interval: float) -> None:
    while True:
        try:
            await service.sweep()
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(interval)
