"""genq's route declarations: what a route reads from a request, how a refusal is answered,
and that the document describes exactly the routes served. In process: no server needed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path as FilePath
from types import SimpleNamespace
from typing import Annotated, Any, cast

import pytest
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.testclient import TestClient

from genq.errors import ServiceError, Unauthorized
from genq.http.app import GenqApp
from genq.http.auth import Caller
from genq.http.openapi import document_path
from genq.http.responses import JSONResponse
from genq.http.routing import Depends, Header, IndexedRouter, Path, Query, Router
from genq.jobs import ApiKey
from genq.server import build_app
from genq.service import JobService
from genq.settings import Settings


async def key_of(request: Request) -> str:
    key = request.headers.get("x-api-key")
    if key != "good":
        raise Unauthorized("no key")
    return key


Key = Annotated[str, Depends(key_of)]


def shaped(exc: ServiceError) -> Response:
    """A vendor-like error shape, to tell it from the native one."""
    return JSONResponse({"failure": exc.code, "said": exc.message}, status_code=exc.status_code)


def make_router(prefix: str, render_error: Any = None) -> Router:
    router = Router(prefix) if render_error is None else Router(prefix, render_error=render_error)

    @router.get("/items/{item_id}", summary="An item")
    async def get_item(
        key: Key,
        item_id: str = Path(max_length=5),
        wait: float = Query(0, ge=0, le=60),
        tag: str | None = None,
        idempotency_key: Annotated[str | None, Header(max_length=8)] = None,
    ) -> Response:
        """Echo what was read."""
        read = {"key": key, "id": item_id, "wait": wait, "tag": tag, "idem": idempotency_key}
        return JSONResponse(read)

    @router.get("/boom")
    async def boom(request: Request) -> Response:
        raise RuntimeError(request.url.path)

    @router.get("/later")
    async def later() -> Response:
        raise ServiceError("come back later", code="later", headers={"Retry-After": "7"})

    return router


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = Starlette(routes=make_router("/t").routes() + make_router("/v/t", shaped).routes())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_route_reads_its_declared_parameters(client: TestClient) -> None:
    """Path, query and header parameters are read, converted and defaulted as declared; of a
    repeated query parameter the last counts; a header is named with ``-`` for ``_``."""
    headers = {"x-api-key": "good", "Idempotency-Key": "abc"}
    answer = client.get("/t/items/a1?wait=1.5&tag=x&tag=y", headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {"key": "good", "id": "a1", "wait": 1.5, "tag": "y", "idem": "abc"}
    answer = client.get("/t/items/a1", headers={"x-api-key": "good"})
    assert answer.json() == {"key": "good", "id": "a1", "wait": 0, "tag": None, "idem": None}


def test_refused_parameters_are_one_422_naming_each(client: TestClient) -> None:
    """Every refused parameter is named, by where it is and its name in the request."""
    headers = {"x-api-key": "good", "Idempotency-Key": "x" * 9}
    answer = client.get("/t/items/toolong?wait=61", headers=headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    paths = [detail["path"] for detail in error["details"]]
    assert paths == ["path/item_id", "query/wait", "header/idempotency-key"]
    answer = client.get("/t/items/a?wait=soon", headers={"x-api-key": "good"})
    assert answer.json()["error"]["details"][0] == {
        "path": "query/wait",
        "message": "Input should be a valid number, unable to parse string as a number",
    }


def test_the_dependency_refuses_before_the_parameters_are_read(client: TestClient) -> None:
    answer = client.get("/t/items/toolong?wait=61")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_each_router_answers_every_refusal_in_its_own_shape(client: TestClient) -> None:
    """A dialect's router answers a bad key, a bad parameter and a defect in its shape."""
    assert client.get("/v/t/items/a").json() == {"failure": "unauthorized", "said": "no key"}
    refused = client.get("/v/t/items/a?wait=-1", headers={"x-api-key": "good"})
    assert refused.status_code == 422
    assert refused.json()["failure"] == "validation_error"
    defect = client.get("/v/t/boom")
    assert defect.status_code == 500
    assert defect.json() == {"failure": "internal_error", "said": "internal server error"}
    native = client.get("/t/boom")
    assert native.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }


def test_an_errors_headers_reach_every_surfaces_answer(client: TestClient) -> None:
    """The headers an error carries (``Retry-After``) are in the native answer and in a
    dialect's own shape alike."""
    native = client.get("/t/later")
    assert native.headers["Retry-After"] == "7"
    assert native.json()["error"]["code"] == "later"
    shaped_answer = client.get("/v/t/later")
    assert shaped_answer.headers["Retry-After"] == "7"
    assert shaped_answer.json() == {"failure": "later", "said": "come back later"}


def test_a_route_answers_only_the_methods_it_declares(client: TestClient) -> None:
    """A GET route does not also answer HEAD, as Starlette's routes otherwise would."""
    assert client.head("/t/items/a", headers={"x-api-key": "good"}).status_code == 405


PAGES = {"/openapi.json", "/docs", "/redoc", "/", "/console/{path:path}"}


def test_the_document_describes_exactly_the_routes_served(tmp_path: FilePath) -> None:
    """Every route genq serves, but the document and its pages and the console's pages, is in
    the document, with the same methods, and the document has no operation that is not
    served."""
    app = build_app(Settings(data_dir=tmp_path / "data"), workers=False)
    assert isinstance(app, GenqApp)
    with TestClient(app):
        served = {
            (method, document_path(route.path))
            for route in app.routes
            if isinstance(route, Route) and route.path not in PAGES
            for method in route.methods or ()
        }
        paths = app.openapi()["paths"]
        documented = {(m.upper(), path) for path, item in paths.items() for m in item}
    assert served == documented
    assert ("HEAD", "/v1/jobs/{job_id}/outputs/{index}") in served
    assert ("GET", "/v1/models/{name}") in served


def scanned(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    """The route Starlette's own router picks: the first full match, else the first partial."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def test_the_indexed_router_picks_the_route_starlettes_scan_picks(tmp_path: FilePath) -> None:
    """For a request to every route's path (its parameters filled in a few ways) with every
    method, and for paths near them, the index picks the route the full scan picks."""
    app = build_app(Settings(data_dir=tmp_path / "data"), workers=False)
    router = app.router
    assert isinstance(router, IndexedRouter)
    paths = {"/", "/nowhere", "/v1", "/v1/", "/v2/x/y/z", "/docs/assets/swagger-ui.css"}
    for route in router.routes:
        template = getattr(route, "path", "")
        for fill in ("a", "a/b", "a/b/c/d/e/f/g/h", "requests", "x%0Ay"):
            path = re.sub(r"{[^}]+}", fill, template)
            paths |= {path, path + "/", path + "\n", path.rsplit("/", 1)[0]}
    checked = 0
    for path in sorted(paths):
        for method in ("GET", "HEAD", "POST", "DELETE", "PUT"):
            scope = {"type": "http", "method": method, "path": path, "root_path": ""}
            found = router.match(scope)
            assert (found[0] if found else None) is scanned(router.routes, scope), (method, path)
            checked += found is not None
    assert checked > 100


class TwoSegments(Convertor[str]):
    """A parameter that holds exactly one slash: never a lone ``/``."""

    regex = "[a-z]+/[a-z]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("test_two_segments", TwoSegments())


async def answer(request: Request) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("routes", "path", "method"),
    [
        # A route registered later, whose parameter must hold a slash.
        (
            [
                Route("/a/{x:test_two_segments}", answer),
                Route("/a/{y:path}", answer, methods=["POST"]),
            ],
            "/a/b/c",
            "GET",
        ),
        # ``$`` matches before a final newline: the scan takes /v1/models for /v1/models\n.
        ([Route("/v1/models", answer), Route("/v1/{name}", answer)], "/v1/models\n", "GET"),
        ([Route("/healthz", answer), Route("/{anything}", answer)], "/healthz\n", "GET"),
        ([], "/v1/jobs", "GET"),
    ],
)
def test_the_indexed_router_agrees_with_the_scan_on_routes_genq_does_not_have(
    routes: list[Route], path: str, method: str
) -> None:
    router = IndexedRouter(list(routes))
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    found = router.match(scope)
    assert (found[0] if found else None) is scanned(router.routes, scope)
    assert (found is None) == (not routes)


API_KEY = ApiKey("key_1", "acct_1", "default", None, "gq_", disabled=False, created_at=0.0)


@pytest.mark.parametrize(
    "scope",
    [
        {"scheme": "http", "server": ("127.0.0.1", 8000), "headers": [(b"host", b"h:1")]},
        {"scheme": "https", "server": ["testserver", 443], "headers": [(b"host", b"h")]},
        {"scheme": "http", "server": ("10.0.0.1", 80), "headers": [], "root_path": "/genq"},
        {"scheme": "http", "server": None, "headers": [(b"host", b"[::1]:8080")]},
        {"server": ("a", 81), "headers": [(b"x-api-key", b"k"), (b"host", b"h")]},
        {"server": ("a", 81), "headers": [], "root_path": "/sub", "app_root_path": ""},
        {"server": ("a", 81), "headers": [(b"host", b"h" * 100_000)]},
    ],
)
def test_a_callers_base_url_is_starlettes(scope: dict[str, Any]) -> None:
    """The remembered base URL is the one Starlette works out from the whole request."""
    full = {"type": "http", "path": "/v1/jobs", "query_string": b"", **scope}
    request = Request(full)
    caller = Caller(cast(JobService, SimpleNamespace(public_url=None)), API_KEY, request)
    assert caller.base_url == str(request.base_url)


def test_behind_a_prefix_the_document_and_its_pages_name_it(tmp_path: FilePath) -> None:
    """Under a proxy's prefix (``root_path``) the document's server is that prefix and the
    pages load the document and their assets from under it."""
    app = build_app(Settings(data_dir=tmp_path / "data"), workers=False)
    with TestClient(app, root_path="/genq/") as client:
        assert client.get("/openapi.json").json()["servers"] == [{"url": "/genq"}]
        page = client.get("/docs").text
        assert "url: '/genq/openapi.json'" in page
        assert "/genq/docs/assets/swagger-ui-bundle.js" in page
        assert "//" not in page.replace("://", "")
    with TestClient(app) as client:
        assert "servers" not in client.get("/openapi.json").json()
