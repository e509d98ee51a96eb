"""The same hostile bodies against every route that takes one, native and each vendor dialect,
on SQLite and PostgreSQL: every answer is a 4xx in that route's own error shape, small, on a
connection that stays up, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Backend, GenqServer, wait_for

Shape = Callable[[Any], bool]


def native_shape(body: Any) -> bool:
    return isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


def netmind_shape(body: Any) -> bool:
    return isinstance(body["detail"], str) and isinstance(body["code"], str)


def mindvideo_shape(body: Any) -> bool:
    return native_shape(body) and body["request_id"].startswith("req_")


def message_shape(body: Any) -> bool:
    return isinstance(body["error"], str)


def problem_shape(body: Any) -> bool:
    """Replicate's problem details."""
    return isinstance(body["title"], str) and isinstance(body["detail"], str)


@dataclass(frozen=True)
class Route:
    """A route that takes a JSON body: where a hostile value goes in a free-text field, where
    in a field the route only keeps (metadata, extra vendor fields), and its error shape."""

    path: str
    text: str
    extra: str
    shape: Shape


ROUTES = {
    "native": Route(
        "/v1/jobs",
        '{"model": "demo-image", "input": {"prompt": VALUE}}',
        '{"model": "noop", "input": {}, "metadata": {"a": VALUE}}',
        native_shape,
    ),
    "netmind": Route(
        "/v1/generation",
        '{"model": "Qwen/Qwen-Image", "config": {"prompt": VALUE}}',
        '{"model": "Qwen/Qwen-Image", "config": {"prompt": "x", "extra": VALUE}}',
        netmind_shape,
    ),
    "netmind_legacy": Route(
        "/v1/netmind-image-job",
        '{"job_type": "text2image", "config": {"prompt": VALUE}}',
        '{"job_type": "text2image", "config": {"prompt": "x"}, "extra": VALUE}',
        netmind_shape,
    ),
    "mindvideo": Route(
        "/api/v1/tasks",
        '{"model": "seedream-4.5", "input": {"prompt": VALUE}}',
        '{"model": "seedream-4.5", "input": {"prompt": "x", "size": VALUE}}',
        mindvideo_shape,
    ),
    "oxen": Route(
        "/api/ai/queue",
        '{"model": "demo-image", "prompt": VALUE, "num_generations": 1}',
        '{"model": "demo-image", "prompt": "x", "extra": VALUE}',
        message_shape,
    ),
    "oxen_sync": Route(
        "/api/ai/images/generate",
        '{"model": "demo-image", "prompt": VALUE}',
        '{"model": "demo-image", "prompt": "x", "extra": VALUE}',
        message_shape,
    ),
    "webhook": Route(
        "/v1/jobs",
        '{"model": "noop", "input": {}, "webhook": VALUE}',
        '{"model": "noop", "input": {}, "webhook": "https://a.example", "webhook_events": VALUE}',
        native_shape,
    ),
    "time_limits": Route(
        "/v1/jobs",
        '{"model": "noop", "input": {}, "start_deadline": VALUE}',
        '{"model": "noop", "input": {}, "timeout": VALUE}',
        native_shape,
    ),
    "webhook_endpoints": Route(
        "/v1/webhooks",
        '{"url": VALUE}',
        '{"url": "https://93.184.215.14/h", "models": VALUE, "description": VALUE}',
        native_shape,
    ),
    "keys": Route(
        "/v1/keys",
        '{"name": VALUE}',
        '{"name": "x", "extra": VALUE}',
        native_shape,
    ),
    "sign_in": Route(
        "/v1/console/sign-in",
        '{"token": VALUE}',
        '{"token": "x", "extra": VALUE}',
        native_shape,
    ),
    "segmind": Route(
        "/v2/demo-image",
        '{"prompt": VALUE}',
        '{"prompt": "x", "extra": VALUE}',
        message_shape,
    ),
    "replicate": Route(
        "/replicate/v1/models/genq/demo-image/predictions",
        '{"input": {"prompt": VALUE}}',
        '{"input": {"prompt": "x", "extra": VALUE}}',
        problem_shape,
    ),
    "replicate_version": Route(
        "/replicate/v1/predictions",
        '{"version": VALUE, "input": {}}',
        '{"version": "genq/noop", "input": {}, "webhook_events_filter": VALUE}',
        problem_shape,
    ),
    "runpod": Route(
        "/runpod/v2/demo-image/run",
        '{"input": {"prompt": VALUE}}',
        '{"input": {"prompt": "x"}, "policy": {"extra": VALUE}}',
        message_shape,
    ),
}


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


# JSON text, so that values no encoder would write (lone surrogates, 1e400) go as they are.
VALUES = {
    **{f"nested-{n}": nested(n) for n in (100, 254, 255, 1000, 1024, 10_000)},
    "nested-objects-300": '{"a": ' * 300 + "1" + "}" * 300,
    "nul": '"a\\u0000b"',
    "nul-key": '{"a\\u0000": 1}',
    "lone-surrogate": '"\\ud800"',
    "low-surrogate": '"x\\udc00y"',
    "infinite": "1e400",
    "minus-infinite": "-1e400",
    "huge-integer": "123456789012345678901234567890",
    "oversized-text": '"' + "a" * 1_000_000 + '"',
    "many-keys": "{" + ", ".join(f'"k{i}": {i}' for i in range(5000)) + "}",
    "oversized-data-prefixed": '"data:' + "a" * 1_000_000 + '"',
    "oversized-key": '{"' + "k" * 2_000_000 + '": 1}',
}

#: Values a field that is only kept (metadata, a vendor field genq does not use) may hold.
STORABLE = {"huge-integer", "many-keys"}

#: The most an error answer may take, whatever it refuses.
MAX_ERROR_BYTES = 8192


@pytest.fixture(scope="module")
def hostile_key(server: GenqServer) -> str:
    """A key of an account of its own, whose job list must stay empty."""
    return server.new_key(f"hostile-{server.backend.name}")


@pytest.fixture(scope="module")
def http(server: GenqServer, hostile_key: str) -> Iterator[httpx.Client]:
    # One connection for every request: a dropped connection would show as a new one.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {hostile_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60, limits=limits) as client:
        yield client
    with httpx.Client(base_url=server.url, headers=headers) as client:
        assert client.get("/v1/jobs").json()["data"] == []


def check_refused(response: httpx.Response, route: Route) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert len(response.content) <= MAX_ERROR_BYTES, len(response.content)
    assert response.headers["content-type"].startswith("application/json")
    assert route.shape(response.json()), response.text


@pytest.mark.parametrize("slot", ["text", "extra"])
@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("route", list(ROUTES))
def test_hostile_body_is_refused_in_the_routes_shape(
    http: httpx.Client, route: str, value: str, slot: str
) -> None:
    """A hostile value in a free-text or a kept field answers a small 4xx in the route's own
    error shape, and the connection stays up."""
    spec = ROUTES[route]
    template = spec.text if slot == "text" else spec.extra
    response = http.post(spec.path, content=template.replace("VALUE", VALUES[value]).encode())
    if slot == "extra" and value in STORABLE:
        # Kept as given, or refused: either way an answer, never a 500.
        assert response.status_code < 500, response.text[:500]
        if response.is_success:
            for job in http.get("/v1/jobs").json()["data"]:
                http.delete(f"/v1/jobs/{job['id']}")
            return
    check_refused(response, spec)
    assert response.headers.get("connection") != "close"


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_body_over_the_limit_is_refused_in_the_routes_shape(
    http: httpx.Client, route: str, announced: bool
) -> None:
    """A body over max_body_bytes answers 413 in the route's own shape, announced or not."""
    spec = ROUTES[route]
    body = spec.text.replace("VALUE", '"' + "a" * (10 * 1024 * 1024 + 10) + '"').encode()
    content: Any = (
        body if announced else iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    )
    response = http.post(spec.path, content=content)
    assert response.status_code == 413
    check_refused(response, spec)


def test_metadata_caps(http: httpx.Client) -> None:
    """Metadata over its size, key count or depth caps is a 422 naming metadata."""
    cases = {
        "size": {"a": "x" * 20_000},
        "keys": {f"k{i}": i for i in range(65)},
        "depth": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}},
    }
    for name, metadata in cases.items():
        response = http.post("/v1/jobs", json={"model": "noop", "metadata": metadata})
        assert response.status_code == 422, name
        assert response.json()["error"]["details"][0]["path"].startswith("metadata"), name
    ok = http.post("/v1/jobs", json={"model": "noop", "metadata": {"a": {"b": {"c": 1}}}})
    assert ok.status_code == 202
    assert http.delete(f"/v1/jobs/{ok.json()['id']}").status_code == 200


ID_ROUTES = {
    "native-get": ("GET", "/v1/jobs/ID", native_shape),
    "native-cancel": ("POST", "/v1/jobs/ID/cancel", native_shape),
    "native-delete": ("DELETE", "/v1/jobs/ID", native_shape),
    "native-events": ("GET", "/v1/jobs/ID/events", native_shape),
    "native-output": ("GET", "/v1/jobs/ID/outputs/0", native_shape),
    "native-retry": ("POST", "/v1/jobs/ID/retry", native_shape),
    "webhook-get": ("GET", "/v1/webhooks/ID", native_shape),
    "webhook-delete": ("DELETE", "/v1/webhooks/ID", native_shape),
    "webhook-rotate": ("POST", "/v1/webhooks/ID/rotate-secret", native_shape),
    "webhook-redeliver": ("POST", "/v1/webhooks/deliveries/ID/redeliver", native_shape),
    "netmind-get": ("GET", "/v1/generation/ID", netmind_shape),
    "netmind-delete": ("DELETE", "/v1/generation/ID", netmind_shape),
    "legacy-get": ("GET", "/v1/netmind-image-job/ID", netmind_shape),
    "legacy-delete": ("DELETE", "/v1/netmind-video-job/ID", netmind_shape),
    "mindvideo-get": ("GET", "/api/v1/tasks/ID", mindvideo_shape),
    "mindvideo-cancel": ("POST", "/api/v1/tasks/ID/cancel", mindvideo_shape),
    "mindvideo-events": ("GET", "/api/v1/tasks/ID/events", mindvideo_shape),
    "oxen-delete": ("DELETE", "/api/media/generations/ns/ID", message_shape),
    "segmind-status": ("GET", "/v2/requests/ID/status", message_shape),
    "segmind-get": ("GET", "/v2/requests/ID", message_shape),
    "segmind-v1": ("GET", "/v1/requests/ID", message_shape),
    "replicate-get": ("GET", "/replicate/v1/predictions/ID", problem_shape),
    "replicate-cancel": ("POST", "/replicate/v1/predictions/ID/cancel", problem_shape),
    "replicate-stream": ("GET", "/replicate/v1/predictions/ID/stream", problem_shape),
    "replicate-file": ("GET", "/replicate/v1/files/ID", problem_shape),
    "runpod-status": ("GET", "/runpod/v2/noop/status/ID", message_shape),
    "runpod-stream": ("GET", "/runpod/v2/noop/stream/ID", message_shape),
    "runpod-cancel": ("POST", "/runpod/v2/noop/cancel/ID", message_shape),
    "runpod-retry": ("POST", "/runpod/v2/noop/retry/ID", message_shape),
}


@pytest.mark.parametrize("job_id", ["job%00x", "%00", "x" * 4000, "%F0%28%8C%BC"])
@pytest.mark.parametrize("route", list(ID_ROUTES))
def test_hostile_ids_are_not_found_in_the_routes_shape(
    http: httpx.Client, route: str, job_id: str
) -> None:
    """A job id with a NUL, invalid UTF-8 or thousands of characters is a 4xx in the route's
    own shape, on every route that takes one."""
    method, path, shape = ID_ROUTES[route]
    response = http.request(method, path.replace("ID", job_id))
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert len(response.content) <= MAX_ERROR_BYTES
    assert shape(response.json()), response.text


@pytest.mark.parametrize(
    "query",
    [
        "/v1/jobs?model=a%00b",
        "/v1/jobs?status=%00",
        "/v1/jobs?cursor=%00",
        "/v1/jobs?limit=1e400",
        "/v1/jobs/job_x?wait=1e400",
        "/v1/generation?page=99999999999999999999999",
        "/v1/netmind-image-job?page=1&page_size=-1",
        "/api/media/generations/status/ns/a%00b",
    ],
)
def test_hostile_query_parameters(http: httpx.Client, query: str) -> None:
    """Hostile query and path parameters on listing routes answer a 4xx."""
    response = http.get(query)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.slow
def test_what_a_model_writes_is_kept_storable(make_server: Any) -> None:
    """NUL characters and megabytes in a model's error, log, progress and text are stored
    bounded and without the NUL, on both stores, and the job fails cleanly."""
    server = make_server(toml='[models.loud]\nentrypoint = "tests.plugins:Loud"\n', workers=1)
    with server.client() as api:
        job = api.post("/v1/jobs", json={"model": "loud"}).json()
        done = wait_for(api, job["id"])
        assert done["status"] == "failed"
        assert done["error"]["code"] == "model_error"
        message = done["error"]["message"]
        assert "\x00" not in message
        assert "error\ufffd\ufffdxxx" in message
        assert len(message) <= 4000
        events = api.get(f"/v1/jobs/{job['id']}/events").text
    assert "log\ufffd\ufffdxxx" in events
    assert "text\ufffd\ufffd" in events
    assert len(events) < 50_000


#: Models whose pricing misbehaves, on the server below.
MISPRICED = """
[models.faulty]
entrypoint = "tests.plugins:Faulty"

[models.costly]
entrypoint = "tests.plugins:Costly"
"""


@pytest.fixture(scope="module")
def bounded(
    tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend
) -> Iterator[GenqServer]:
    """One server for the tests below: a small max_list_bytes, no workers (jobs stay
    queued), and the models of MISPRICED. Each test lists the jobs of an account of its
    own."""
    directory = tmp_path_factory.mktemp(f"bounded-{shared_backend.name}")
    server = GenqServer(
        directory / "data", MISPRICED, shared_backend, max_list_bytes=40_000, workers=0
    ).start()
    yield server
    server.close()


def test_listing_pages_are_bounded_in_bytes(bounded: GenqServer) -> None:
    """A listing stops a page once it holds max_list_bytes, and next_cursor reaches the rest."""
    with bounded.client(bounded.new_key("listing")) as api:
        made = [
            api.post("/v1/jobs", json={"model": "noop", "metadata": {"n": i, "pad": "x" * 12_000}})
            for i in range(7)
        ]
        assert all(r.status_code == 202 for r in made)
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = api.get("/v1/jobs", params=params)
            assert len(page.content) < 60_000
            body = page.json()
            assert 1 <= len(body["data"]) < 7
            seen += [job["metadata"]["n"] for job in body["data"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == list(range(6, -1, -1))


UNEXPECTED = {
    "native": ("/v1/jobs", {"model": "faulty", "input": {"prompt": "x"}}, native_shape),
    "netmind": ("/v1/generation", {"model": "faulty", "config": {"prompt": "x"}}, netmind_shape),
    "mindvideo": ("/api/v1/tasks", {"model": "faulty", "input": {"prompt": "x"}}, mindvideo_shape),
    "oxen": ("/api/ai/queue", {"model": "faulty", "prompt": "x"}, message_shape),
    "segmind": ("/v2/faulty", {"prompt": "x"}, message_shape),
    "runpod": ("/runpod/v2/faulty/run", {"input": {"prompt": "x"}}, message_shape),
}


@pytest.mark.backends("sqlite")
def test_unexpected_errors_answer_in_the_routes_shape(bounded: GenqServer) -> None:
    """A defect (here a plug-in's usage() that raises) is a 500 in the route's own error
    shape, logged once with its traceback, never a dropped connection."""
    with bounded.client() as api:
        for name, (path, body, shape) in UNEXPECTED.items():
            response = api.post(path, json=body)
            assert response.status_code == 500, (name, response.text)
            assert shape(response.json()), (name, response.text)
            assert "ZeroDivisionError" not in response.text
            assert response.headers.get("connection") != "close"
    assert bounded.log.read_text().count("ZeroDivisionError: a bug") == len(UNEXPECTED)


def test_numbered_pages_stay_whole(bounded: GenqServer) -> None:
    """Numbered listings (NetMind's) never end a page early, whatever max_list_bytes says:
    every job is on exactly one page."""
    server = bounded
    headers = {"Authorization": server.new_key("numbered")}
    body = {"model": "Qwen/Qwen-Image", "config": {"prompt": "p" * 1900, "pad": "x" * 12_000}}
    made = [
        httpx.post(f"{server.url}/v1/generation", headers=headers, json=body).json()["id"]
        for _ in range(7)
    ]
    seen: list[str] = []
    for page in (1, 2, 3):
        listed = httpx.get(
            f"{server.url}/v1/generation",
            headers=headers,
            params={"page": page, "page_size": 3},
        ).json()
        seen += [item["id"] for item in listed["generation_list"]]
    assert sorted(seen) == sorted(made)


def test_an_estimate_no_balance_can_hold_is_refused(bounded: GenqServer) -> None:
    """Input that prices a job beyond any balance is a 422, not a 500."""
    with bounded.client() as api:
        for duration in (1e20, 1e300):
            refused = api.post(
                "/v1/jobs", json={"model": "costly", "input": {"duration": duration}}
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["details"][0]["path"] == "input"
        oxen = api.post("/api/ai/queue", json={"model": "costly", "prompt": "x", "duration": 1e20})
        assert oxen.status_code == 422, oxen.text
        assert (
            api.post("/v1/jobs", json={"model": "costly", "input": {"duration": 2}}).status_code
            == 202
        )
