"""NetMind's asynchronous inference dialect (``/v1/generation``), through real HTTP against a
real ``genq serve``, with the requests of the vendor's own examples (only host and key
replaced): its curl examples send the key bare, its Python examples as ``Bearer KEY``."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import httpx
import pytest
import soundfile
from PIL import Image

from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")

TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
FINAL = ("completed", "failed")

QWEN_IMAGE = {
    "model": "Qwen/Qwen-Image",
    "config": {
        "prompt": "Generate a cup of coffee",
        "image_size": "landscape_4_3",
        "num_inference_steps": 30,
        "guidance_scale": 2.5,
        "num_images": 1,
        "enable_safety_checker": True,
        "output_format": "png",
        "acceleration": "none",
    },
}
MMAUDIO = {
    "model": "hkchengrex/MMAudio",
    "config": {"prompt": "The summer wind blows over the willow branches.", "duration": 100},
}
SMALL_IMAGE = {
    "model": "Qwen/Qwen-Image",
    "config": {"prompt": "A small test picture", "image_size": "square", "num_inference_steps": 1},
}


def curl_headers(server: GenqServer, json_body: bool = False) -> dict[str, str]:
    """The curl examples' headers: the key with no scheme."""
    headers = {"Authorization": server.key}
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def python_headers(server: GenqServer, json_body: bool = False) -> dict[str, str]:
    """The Python examples' headers: ``Bearer KEY``."""
    headers = {"Authorization": f"Bearer {server.key}"}
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def create(server: GenqServer, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/v1/generation", headers=headers, content=json.dumps(body), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def poll(server: GenqServer, generation_id: str, timeout: float = 120) -> dict[str, Any]:
    """Get the generation until it is completed or failed, as a NetMind client does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{server.url}/v1/generation/{generation_id}",
            headers=curl_headers(server),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        generation = response.json()
        assert generation["status"] in ("pending", "processing", *FINAL)
        if generation["status"] in FINAL:
            return generation
        time.sleep(0.25)
    raise AssertionError(f"generation {generation_id} did not finish in {timeout} s")


def assert_generation_shape(generation: dict[str, Any]) -> None:
    assert set(generation) == {
        "id",
        "user_id",
        "status",
        "created_at",
        "updated_at",
        "deleted_at",
        "is_deleted",
        "result",
    }
    assert generation["id"].startswith("job_")
    assert generation["user_id"]
    assert TIME.match(generation["created_at"]), generation["created_at"]
    assert TIME.match(generation["updated_at"]), generation["updated_at"]
    assert generation["updated_at"] >= generation["created_at"]
    assert generation["deleted_at"] is None
    assert generation["is_deleted"] is False


def only_file(generation: dict[str, Any], file_type: str) -> tuple[dict[str, Any], bytes]:
    """The generation's single file entry and its downloaded bytes."""
    [entry] = generation["result"]["data"]
    assert set(entry) == {"url", "file_id", "file_name", "file_type"}
    assert entry["file_type"] == file_type
    assert entry["file_id"].startswith("file-")
    response = httpx.get(entry["url"], timeout=30, follow_redirects=True)
    assert response.status_code == 200
    return entry, response.content


def test_curl_example_makes_the_qwen_image(server: GenqServer) -> None:
    """The curl example (bare key) creates a pending generation whose fields the model lacks
    are ignored, and which completes with one 1024x768 PNG (image_size landscape_4_3)."""
    created = create(server, QWEN_IMAGE, curl_headers(server, json_body=True))
    assert_generation_shape(created)
    assert created["status"] == "pending"
    assert created["result"] == {}

    done = poll(server, created["id"])
    assert_generation_shape(done)
    assert done["id"] == created["id"]
    assert done["status"] == "completed", done
    assert done["created_at"] == created["created_at"]
    entry, data = only_file(done, "image")
    assert entry["file_name"].endswith(".png")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (1024, 768)
    # The same output keeps the same file id from one read to the next.
    assert poll(server, created["id"])["result"]["data"][0]["file_id"] == entry["file_id"]


def test_python_example_makes_100_seconds_of_audio(server: GenqServer) -> None:
    """The Python example (Bearer key) for hkchengrex/MMAudio completes with an audio file
    that lasts the 100 s the config asks for."""
    created = create(server, MMAUDIO, python_headers(server, json_body=True))
    assert created["status"] == "pending"
    done = poll(server, created["id"], timeout=240)
    assert done["status"] == "completed", done
    _, data = only_file(done, "audio")
    info = soundfile.info(io.BytesIO(data))
    assert info.duration == pytest.approx(100, abs=0.05)


@pytest.mark.backends("sqlite", "postgres")
def test_full_life_create_poll_download_list_delete(server: GenqServer) -> None:
    """A generation is created, polled to completion, downloaded, listed first, deleted with
    the documented message, and then answers 404 everywhere."""
    created = create(server, SMALL_IMAGE, python_headers(server, json_body=True))
    done = poll(server, created["id"])
    assert done["status"] == "completed", done
    _, data = only_file(done, "image")
    assert Image.open(io.BytesIO(data)).size == (512, 512)

    # The native API sees the same job.
    with server.client() as api:
        native = api.get(f"/v1/jobs/{created['id']}").json()
    assert native["status"] == "succeeded"
    assert native["model"] == "demo-image"
    assert native["origin"] == {"api": "netmind", "model": "Qwen/Qwen-Image"}

    for headers in (curl_headers(server), python_headers(server)):
        listed = httpx.get(f"{server.url}/v1/generation", headers=headers, timeout=30)
        assert listed.status_code == 200
        generations = listed.json()["generation_list"]
        assert generations[0]["id"] == created["id"]
        assert generations[0]["status"] == "completed"
        assert_generation_shape(generations[0])

    url = f"{server.url}/v1/generation/{created['id']}"
    deleted = httpx.delete(url, headers=python_headers(server), timeout=30)
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Generation deleted"}
    assert httpx.get(url, headers=curl_headers(server), timeout=30).status_code == 404
    assert httpx.delete(url, headers=curl_headers(server), timeout=30).status_code == 404
    with server.client() as api:
        assert api.get(f"/v1/jobs/{created['id']}").status_code == 404
    listed = httpx.get(f"{server.url}/v1/generation", headers=curl_headers(server), timeout=30)
    assert created["id"] not in [g["id"] for g in listed.json()["generation_list"]]


def test_list_holds_only_generations_newest_first_in_pages(server: GenqServer) -> None:
    """The list holds only jobs made through /v1/generation, newest first; page and
    page_size pick a page; a native job is no generation (404)."""
    with server.client() as api:
        native = api.post("/v1/jobs", json={"model": "noop", "input": {}}).json()
    first = create(server, {"model": "noop", "config": {}}, python_headers(server, True))
    second = create(server, {"model": "noop", "config": {}}, python_headers(server, True))

    listed = httpx.get(f"{server.url}/v1/generation", headers=curl_headers(server), timeout=30)
    ids = [g["id"] for g in listed.json()["generation_list"]]
    assert native["id"] not in ids
    assert ids.index(second["id"]) < ids.index(first["id"])

    pages = [
        httpx.get(
            f"{server.url}/v1/generation",
            params={"page": page, "page_size": 1},
            headers=curl_headers(server),
            timeout=30,
        ).json()["generation_list"]
        for page in (1, 2)
    ]
    assert [len(p) for p in pages] == [1, 1]
    assert pages[0][0]["id"] == ids[0]
    assert pages[1][0]["id"] == ids[1]

    native_url = f"{server.url}/v1/generation/{native['id']}"
    assert httpx.get(native_url, headers=curl_headers(server), timeout=30).status_code == 404


def test_a_failed_job_is_failed_with_its_error(server: GenqServer) -> None:
    """A job that fails reads ``failed`` with its error in result.error."""
    created = create(
        server, {"model": "noop", "config": {"fail": "out of ink"}}, curl_headers(server, True)
    )
    done = poll(server, created["id"])
    assert done["status"] == "failed"
    assert done["result"]["error"]["message"] == "out of ink"
    assert done["result"]["error"]["code"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"config": {"prompt": "a cup"}}, 422, "validation_error"),
        ({"model": "", "config": {"prompt": "a cup"}}, 422, "validation_error"),
        ({"model": "no/such-model", "config": {"prompt": "a cup"}}, 404, "model_not_found"),
        ({"model": "Qwen/Qwen-Image", "config": "a cup"}, 422, "validation_error"),
        ({"model": "Qwen/Qwen-Image", "config": {}}, 422, "validation_error"),
        ({"model": "Qwen/Qwen-Image", "config": {"prompt": "a", "num_images": 99}}, 422, None),
        ([1, 2], 422, "validation_error"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    server: GenqServer, body: Any, status: int, code: str | None
) -> None:
    """A missing or unknown model, or a config that is not an object or that the model
    refuses, answers a 4xx naming the problem, and makes no job."""
    response = httpx.post(
        f"{server.url}/v1/generation",
        headers=curl_headers(server, json_body=True),
        content=json.dumps(body),
        timeout=30,
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["detail"]
    assert error["code"] == (code or "validation_error")


def test_body_that_is_not_json_is_a_400(server: GenqServer) -> None:
    """A body that is not JSON answers 400 invalid_json."""
    response = httpx.post(
        f"{server.url}/v1/generation",
        headers=curl_headers(server, json_body=True),
        content=b"{model: ",
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_unknown_generation_is_a_404(server: GenqServer) -> None:
    """Getting or deleting a generation id that does not exist answers 404."""
    url = f"{server.url}/v1/generation/job_doesnotexist"
    for method in ("GET", "DELETE"):
        response = httpx.request(method, url, headers=python_headers(server), timeout=30)
        assert response.status_code == 404
        assert response.json()["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key", "not-a-key"])
def test_a_request_without_a_valid_key_is_a_401(
    server: GenqServer, authorization: str | None
) -> None:
    """Every route answers 401 without a key or with an unknown one, bare or Bearer."""
    headers = {} if authorization is None else {"Authorization": authorization}
    calls = [
        ("POST", "/v1/generation", json.dumps(SMALL_IMAGE)),
        ("GET", "/v1/generation", None),
        ("GET", "/v1/generation/job_x", None),
        ("DELETE", "/v1/generation/job_x", None),
    ]
    for method, path, content in calls:
        response = httpx.request(
            method, f"{server.url}{path}", headers=headers, content=content, timeout=30
        )
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "unauthorized"


def test_bad_page_parameters_are_a_422(server: GenqServer) -> None:
    """page and page_size below 1 (or page_size above 100) answer 422."""
    for params in ({"page": 0}, {"page_size": 0}, {"page_size": 101}, {"page": "x"}):
        response = httpx.get(
            f"{server.url}/v1/generation",
            params=params,
            headers=curl_headers(server),
            timeout=30,
        )
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"
