"""genq's routes: each declared once, with its parameters, answers and error shape, served by
Starlette and described by the OpenAPI document from that one declaration.

A route is an async function whose parameters say what it reads, in the well-known style:
``job_id: str = Path(max_length=100)``, ``wait: float = Query(0, ge=0, le=60)``,
``prefer: Annotated[str | None, Header()] = None``, ``request: Request``, and a dependency
``Annotated[Caller, Depends(authenticated)]`` (an async function of the request). A plain
parameter named in the path is a path parameter; any other plain one is a query parameter.

Why not a framework's own layer: FastAPI re-examines every parameter and dependency on each
request, which alone costs more than a status read may (README, "the frameworks measured"),
and the faster frameworks' document generators write a different document. Here each
route's parameters are read into a plan once, when it is declared; a request costs a lookup
and one Pydantic check per parameter it carries. Pydantic does every check and writes every
schema, so the refusals and the document are those FastAPI gave for the same declarations.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from pydantic import Field, TypeAdapter, ValidationError
from starlette import convertors, routing
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import genq.http.paths  # noqa: F401 - registers {name:rest} before any route uses it
from genq import metrics
from genq.errors import ServiceError
from genq.http.responses import error_answer, request_invalid

log = logging.getLogger("genq.http")

Source = Literal["path", "query", "header"]
Endpoint = Callable[..., Awaitable[Response]]
ErrorRenderer = Callable[[ServiceError], Response]
Answers = dict[int | str, dict[str, Any]]

_REQUIRED: Any = ...


class Param:
    """Where a parameter comes from, and the constraints Pydantic checks it against."""

    def __init__(
        self,
        source: Source,
        default: Any = _REQUIRED,
        *,
        description: str | None = None,
        examples: list[Any] | None = None,
        **constraints: Any,
    ) -> None:
        self.source = source
        self.default = default
        self.description = description
        self.examples = examples
        self.constraints = constraints


def Path(
    default: Any = _REQUIRED,
    *,
    description: str | None = None,
    examples: list[Any] | None = None,
    **constraints: Any,
) -> Any:
    """A path parameter: ``{name}`` in the route's path."""
    return Param("path", default, description=description, examples=examples, **constraints)


def Query(
    default: Any = _REQUIRED,
    *,
    description: str | None = None,
    examples: list[Any] | None = None,
    **constraints: Any,
) -> Any:
    """A query parameter; the last one given of that name counts."""
    return Param("query", default, description=description, examples=examples, **constraints)


def Header(
    default: Any = _REQUIRED,
    *,
    description: str | None = None,
    examples: list[Any] | None = None,
    **constraints: Any,
) -> Any:
    """A header, named by the parameter with ``-`` for ``_`` (``idempotency_key``)."""
    return Param("header", default, description=description, examples=examples, **constraints)


@dataclass(frozen=True)
class Depends:
    """A value worked out from the request by an async function before the route runs (the
    caller's key): it may refuse the request by raising ``ServiceError``."""

    call: Callable[[Request], Awaitable[Any]]


@dataclass(frozen=True)
class Parameter:
    """One parameter of a route, as read from its declaration."""

    name: str
    source: Source
    #: Its name in the request: the header's name, lower case, for a header.
    key: str
    required: bool
    default: Any
    param: Param
    adapter: TypeAdapter[Any]

    def read(self, request: Request) -> Any:
        if self.source == "path":
            return request.path_params.get(self.key)
        if self.source == "query":
            # Most requests have no query string: no need to parse one.
            wanted = request.scope.get("query_string")
            return request.query_params.get(self.key) if wanted else None
        return request.headers.get(self.key)

    def schema(self) -> dict[str, Any]:
        """The parameter's OpenAPI object, as FastAPI writes it."""
        schema = self.adapter.json_schema()
        schema["title"] = self.key.title().replace("_", " ")
        if not self.required and self.default is not None:
            schema["default"] = self.default
        if self.param.description:
            schema["description"] = self.param.description
        if self.param.examples:
            schema["examples"] = self.param.examples
        described = {"name": self.key, "in": self.source, "required": self.required}
        if self.param.description:
            described["description"] = self.param.description
        return {**described, "schema": schema}


def _parameter(
    name: str, annotation: Any, extras: list[Any], default: Any, in_path: bool
) -> Parameter:
    """A parameter of type ``annotation`` (with the ``Annotated`` ``extras`` it was declared
    with) and ``default`` as the function's signature gives it."""
    param = next((e for e in extras if isinstance(e, Param)), None)
    if param is None and isinstance(default, Param):
        param = default
    if param is None:
        param = Param("path" if in_path else "query", default)
    if isinstance(default, Param) or default is inspect.Parameter.empty:
        default = param.default  # else: given after an Annotated declaration
    if default is inspect.Parameter.empty:
        default = _REQUIRED
    key = name.replace("_", "-") if param.source == "header" else name
    checked = Annotated[annotation, Field(**param.constraints)]
    return Parameter(
        name=name,
        source=param.source,
        key=key,
        required=default is _REQUIRED,
        default=None if default is _REQUIRED else default,
        param=param,
        adapter=TypeAdapter(checked),
    )


@dataclass
class Plan:
    """What a route reads from each request, in order: its dependencies, then its parameters
    (path, query, header, as FastAPI orders them in the document), then the request."""

    dependencies: list[tuple[str, Depends]] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    request: str | None = None

    @classmethod
    def of(cls, endpoint: Endpoint, path: str) -> Plan:
        plan = cls()
        in_path = set(re.findall(r"{(\w+)(?::\w+)?}", path))
        hints = get_type_hints(endpoint, include_extras=True)
        for name, declared in inspect.signature(endpoint).parameters.items():
            base, extras = hints[name], list[Any]()
            if get_origin(base) is Annotated:
                base, *extras = get_args(base)
            depends = next((e for e in extras if isinstance(e, Depends)), None)
            if depends is not None:
                plan.dependencies.append((name, depends))
            elif base is Request:
                plan.request = name
            else:
                plan.parameters.append(
                    _parameter(name, base, extras, declared.default, name in in_path)
                )
        order = {"path": 0, "query": 1, "header": 2}
        plan.parameters.sort(key=lambda p: order[p.source])
        return plan

    async def arguments(self, request: Request) -> dict[str, Any]:
        """The route's arguments for ``request``; a refused parameter is a 422 naming each."""
        arguments: dict[str, Any] = {}
        for name, depends in self.dependencies:
            arguments[name] = await depends.call(request)
        errors: list[dict[str, Any]] = []
        for parameter in self.parameters:
            raw = parameter.read(request)
            if raw is None:
                if parameter.required:
                    loc = (parameter.source, parameter.key)
                    errors.append({"type": "missing", "loc": loc, "msg": "Field required"})
                arguments[parameter.name] = parameter.default
                continue
            try:
                arguments[parameter.name] = parameter.adapter.validate_python(raw)
            except ValidationError as exc:
                errors += [
                    {**e, "loc": (parameter.source, parameter.key, *e["loc"])} for e in exc.errors()
                ]
        if errors:
            raise request_invalid(errors)
        if self.request is not None:
            arguments[self.request] = request
        return arguments


@dataclass(frozen=True)
class Operation:
    """One method of one route, as the OpenAPI document describes it."""

    method: str
    path: str
    endpoint: Endpoint
    plan: Plan
    summary: str | None
    status_code: int
    responses: Answers
    openapi_extra: dict[str, Any] | None
    #: Whether the route's own answer is JSON (a file or an event stream is not).
    answers_json: bool
    tags: tuple[str, ...]
    documented: bool
    secured: bool


class Router:
    """Routes under one prefix that answer their errors in one shape: the native API's, or a
    vendor dialect's (``render_error``), whatever refused the request (the caller's key, a
    parameter, the body, the service) and for a defect too."""

    def __init__(
        self,
        prefix: str = "",
        *,
        render_error: ErrorRenderer = error_answer,
        tags: Iterable[str] = (),
    ) -> None:
        self.prefix = prefix
        self.render_error = render_error
        self.tags = tuple(tags)
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str | None = None,
        status_code: int = 200,
        responses: Answers | None = None,
        openapi_extra: dict[str, Any] | None = None,
        answers_json: bool = True,
        documented: bool = True,
        secured: bool = True,
    ) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            full = self.prefix + path
            self.operations.append(
                Operation(
                    method=method,
                    path=full,
                    endpoint=endpoint,
                    plan=Plan.of(endpoint, full),
                    summary=summary,
                    status_code=status_code,
                    responses=responses or {},
                    openapi_extra=openapi_extra,
                    answers_json=answers_json,
                    tags=self.tags,
                    documented=documented,
                    secured=secured,
                )
            )
            return endpoint

        return declare

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("GET", path, **options)

    def head(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("HEAD", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("POST", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("DELETE", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("PATCH", path, **options)

    def routes(self) -> list[Route]:
        """Starlette's routes for these operations, each answering in this router's shape."""
        return [self._served(operation) for operation in self.operations]

    def _served(self, operation: Operation) -> Route:
        plan, endpoint, render_error = operation.plan, operation.endpoint, self.render_error

        async def serve(request: Request) -> Response:
            try:
                return await endpoint(**await plan.arguments(request))
            except ServiceError as exc:
                metrics.answered_error(exc)
                return with_headers(render_error(exc), exc)
            except (HTTPException, ClientDisconnect):
                raise  # answered (or dropped) the same way on every surface
            except Exception:
                # A defect: still answered in this surface's own shape.
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return render_error(ServiceError("internal server error"))

        route = Route(
            operation.path, Served(serve), methods=[operation.method], name=endpoint.__name__
        )
        # Starlette answers HEAD on every GET route; here a route answers what it declares.
        route.methods = {operation.method}
        return route


def with_headers(answer: Response, exc: ServiceError) -> Response:
    """``answer`` with the headers ``exc`` carries: every surface's error shape gets them."""
    answer.headers.update(exc.headers)
    return answer


class Served:
    """A route's ASGI app: its request, answered. (Starlette would wrap a function in two
    more layers, to look up exception handlers that the app's ``Front`` applies anyway.)"""

    def __init__(self, serve: Callable[[Request], Awaitable[Response]]) -> None:
        self.serve = serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.serve(Request(scope, receive, send))
        await response(scope, receive, send)


class IndexedRouter(routing.Router):
    """Starlette's router, which tries every route in turn (about a microsecond each), with
    the routes a request can match looked up first by the path's first two segments and its
    number of slashes.

    A route is filed under the literal segments its path starts with (``/v1/jobs/{job_id}``
    under ``v1``, ``jobs``; ``/v2/{model}`` under ``v2``) and the slashes its path can have
    (``/v1/jobs/{job_id}`` three; ``/files/{key:rest}`` one or more, as its parameter may
    hold slashes), so a request is tried against the routes filed under no segment, its first
    one, and its first two, with as many slashes, in their declared order. A request none of
    them takes goes through Starlette's own scan: a 404, or its redirect to the path with or
    without the trailing slash.
    """

    def __init__(self, routes: list[routing.BaseRoute], **options: Any) -> None:
        super().__init__(routes=routes, **options)
        filed = [_filing(route) for route in self.routes]
        #: Slash counts from here on are tried as one: only routes of any length match them.
        self._longest = max((slashes for _, slashes, _ in filed), default=0) + 1
        keys = {()} | {prefix[:n] for prefix, _, _ in filed for n in range(3)}
        self._tried = {
            (key, n): [
                route
                for route, (prefix, slashes, longer) in zip(self.routes, filed, strict=True)
                if key[: len(prefix)] == prefix and (n == slashes or (longer and n > slashes))
            ]
            for key in keys
            for n in range(self._longest + 1)
        }

    def match(self, scope: Scope) -> tuple[routing.BaseRoute, Scope] | None:
        """The route an HTTP request goes to, as Starlette's scan would find it: the first that
        takes its path and method, else the first that takes its path (a 405); None if none."""
        path = routing.get_route_path(scope)
        # A route's pattern ends in ``$``, which matches before a final newline too.
        path = path.removesuffix("\n")
        segments = tuple(path.split("/", 3)[1:3])
        slashes = min(path.count("/"), self._longest)
        tried = self._tried.get((segments, slashes))
        if tried is None:
            tried = self._tried.get((segments[:1], slashes)) or self._tried[((), slashes)]
        partial: tuple[routing.BaseRoute, Scope] | None = None
        for route in tried:
            match, child_scope = route.matches(scope)
            if match is routing.Match.FULL:
                return route, child_scope
            if match is routing.Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        return partial

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.match(scope) if scope["type"] == "http" else None
        if found is None:
            await super().app(scope, receive, send)
            return
        route, child_scope = found
        scope.setdefault("router", self)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def _filing(route: routing.BaseRoute) -> tuple[tuple[str, ...], int, bool]:
    """Where ``IndexedRouter`` files a route: the literal segments its path starts with (two
    at most), its slashes, and whether a request's path may have more (a parameter that can
    hold a slash). A route of no path of its own is filed under every request."""
    path = getattr(route, "path", None)
    if path is None:
        return (), 0, True
    prefix = tuple(itertools.takewhile(lambda s: "{" not in s, path.split("/")[1:3]))
    params = getattr(route, "param_convertors", {}).values()
    longer = any(type(convertor) not in _SLASHLESS for convertor in params)
    return prefix, path.count("/"), longer


#: Starlette's parameter types that never hold a slash; any other may (``path``, ``rest``, or
#: one registered later whose pattern allows one).
_SLASHLESS = (
    convertors.StringConvertor,
    convertors.IntegerConvertor,
    convertors.FloatConvertor,
    convertors.UUIDConvertor,
)
