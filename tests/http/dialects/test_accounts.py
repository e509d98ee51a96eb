"""Each dialect hides other accounts' jobs: another account's job id answers the dialect's
own 404 on every route that reads or changes a job, and the job is left as it was.

(Oxen's namespaces are checked in test_oxen.py.) The server runs no workers, so every job
stays queued: a cancel or a delete that went through would show at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Backend, GenqServer

pytestmark = pytest.mark.backends("sqlite")


@dataclass(frozen=True)
class Dialect:
    #: Submit a job through the dialect with the key; answer its id.
    create: Callable[[GenqServer, dict[str, str]], str]
    #: Every route of one job: (method, path with {id}).
    routes: tuple[tuple[str, str], ...]
    #: Check that an answer is the dialect's "no such job".
    not_found: Callable[[httpx.Response, str], None]
    #: The header the dialect's documents send the key in.
    key_header: Callable[[str], dict[str, str]]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(server: GenqServer, path: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
    response = httpx.post(server.url + path, headers=headers, json=body, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def netmind_not_found(response: httpx.Response, job_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["detail"]


def replicate_not_found(response: httpx.Response, job_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "prediction_not_found"


def replicate_create(server: GenqServer, headers: dict[str, str]) -> str:
    path = "/replicate/v1/models/genq/noop/predictions"
    response = httpx.post(server.url + path, headers=headers, json={"input": {}}, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def legacy_not_found(response: httpx.Response, job_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "job_not_found"


def mindvideo_not_found(response: httpx.Response, job_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "task_not_found"


def segmind_not_found(response: httpx.Response, job_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"error": f"Request {job_id} not found"}


def runpod_not_found(response: httpx.Response, job_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"error": "request does not exist", "code": "job_not_found"}


DIALECTS = {
    "netmind": Dialect(
        lambda server, headers: post(
            server, "/v1/generation", headers, {"model": "noop", "config": {}}
        )["id"],
        (("GET", "/v1/generation/{id}"), ("DELETE", "/v1/generation/{id}")),
        netmind_not_found,
        bearer,
    ),
    "netmind_legacy": Dialect(
        lambda server, headers: post(
            server,
            "/v1/netmind-image-job",
            headers,
            {"job_type": "text2image", "config": {"prompt": "private"}},
        )["job_id"],
        (("GET", "/v1/netmind-image-job/{id}"), ("DELETE", "/v1/netmind-image-job/{id}")),
        legacy_not_found,
        bearer,
    ),
    "mindvideo": Dialect(
        lambda server, headers: post(
            server, "/api/v1/tasks", headers, {"model": "noop", "input": {}}
        )["task_id"],
        (
            ("GET", "/api/v1/tasks/{id}"),
            ("POST", "/api/v1/tasks/{id}/cancel"),
            ("GET", "/api/v1/tasks/{id}/events"),
        ),
        mindvideo_not_found,
        bearer,
    ),
    "replicate": Dialect(
        replicate_create,
        (
            ("GET", "/replicate/v1/predictions/{id}"),
            ("POST", "/replicate/v1/predictions/{id}/cancel"),
            ("GET", "/replicate/v1/predictions/{id}/stream"),
        ),
        replicate_not_found,
        bearer,
    ),
    "segmind": Dialect(
        lambda server, headers: post(server, "/v2/noop", headers, {})["request_id"],
        (
            ("GET", "/v2/requests/{id}/status"),
            ("GET", "/v2/requests/{id}"),
            ("GET", "/v1/requests/{id}"),
        ),
        segmind_not_found,
        lambda key: {"x-api-key": key},
    ),
    "runpod": Dialect(
        lambda server, headers: post(server, "/runpod/v2/noop/run", headers, {"input": {}})["id"],
        (
            ("GET", "/runpod/v2/noop/status/{id}"),
            ("GET", "/runpod/v2/noop/stream/{id}"),
            ("POST", "/runpod/v2/noop/cancel/{id}"),
            ("POST", "/runpod/v2/noop/retry/{id}"),
        ),
        runpod_not_found,
        bearer,
    ),
}


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    directory = tmp_path_factory.mktemp("accounts-idle")
    server = GenqServer(directory / "data", backend=Backend("sqlite"), workers=0).start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stranger(idle_server: GenqServer) -> str:
    """The key of an account that owns none of the jobs."""
    return idle_server.new_key("stranger")


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_another_accounts_job_is_not_found_and_left_alone(
    idle_server: GenqServer, stranger: str, name: str
) -> None:
    """Another account's job id answers the dialect's 404 on each of its job routes (get,
    cancel, delete, events), while the job stays queued, uncanceled, for its owner."""
    dialect = DIALECTS[name]
    job_id = dialect.create(idle_server, dialect.key_header(idle_server.key))
    for method, path in dialect.routes:
        url = idle_server.url + path.format(id=job_id)
        response = httpx.request(method, url, headers=dialect.key_header(stranger), timeout=30)
        dialect.not_found(response, job_id)
    with idle_server.client() as owner:
        job = owner.get(f"/v1/jobs/{job_id}").json()
        assert (job["status"], job["cancel_requested"]) == ("queued", False), job
        method, path = dialect.routes[0]
        own = httpx.request(
            method,
            idle_server.url + path.format(id=job_id),
            headers=dialect.key_header(idle_server.key),
            timeout=30,
        )
        assert own.status_code == 200, own.text
        assert owner.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "canceled"
