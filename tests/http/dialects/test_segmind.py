"""Segmind's async inference V2, replayed from its document against a real ``genq serve``."""

from __future__ import annotations

import io
import time
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from tests.conftest import GenqServer, wait_until

pytestmark = pytest.mark.backends("sqlite")


def poll_status(server: GenqServer, request_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the lightweight status endpoint as the document's Python example does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{server.url}/v2/requests/{request_id}/status", headers={"x-api-key": server.key}
        )
        status = response.json()
        if status["status"] in ("COMPLETED", "FAILED"):
            return status
        assert response.status_code == 200
        assert status["status"] in ("QUEUED", "PROCESSING")
        assert status["request_id"] == request_id
        assert status["status_url"] == f"{server.url}/v2/requests/{request_id}/status"
        assert status["response_url"] == f"{server.url}/v2/requests/{request_id}"
        assert status["metrics"] == {}
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} did not finish")


def test_quick_start_curl_flow(server: GenqServer) -> None:
    """The quick start: submit seedream-4.5, poll the status URL, fetch the image result."""
    submitted = httpx.post(
        f"{server.url}/v2/seedream-4.5",
        headers={"x-api-key": server.key, "Content-Type": "application/json"},
        content=b"""{
    "prompt": "a red rose on a wooden table, studio lighting",
    "aspect_ratio": "1:1",
    "seed": 123
  }""",
    )
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    request_id = body["request_id"]
    assert body == {
        "request_id": request_id,
        "status": "QUEUED",
        "poll_url": f"{server.url}/v1/requests/{request_id}",
        "status_url": f"{server.url}/v2/requests/{request_id}/status",
        "response_url": f"{server.url}/v2/requests/{request_id}",
    }

    done = poll_status(server, request_id)
    assert done["status"] == "COMPLETED"
    assert done["request_id"] == request_id
    assert set(done) == {"status", "request_id", "metrics"}
    assert done["metrics"]["inference_time"] >= 0

    result = httpx.get(body["response_url"], headers={"x-api-key": server.key})
    assert result.status_code == 200
    data = result.json()
    assert data["status"] == "COMPLETED"
    [image] = data["images"]
    assert data["output"] == image["url"]
    assert data["seed"] == "123"
    assert data["prompt"] == "a red rose on a wooden table, studio lighting"
    assert data["timings"]["inference"] == data["metrics"]["inference_time"]
    download = httpx.get(image["url"])
    assert download.status_code == 200
    assert image["file_size"] == str(len(download.content))
    assert download.headers["content-type"] == image["content_type"]
    picture = Image.open(io.BytesIO(download.content))
    assert picture.format == "PNG"
    assert picture.width == picture.height


def test_python_example_flow(server: GenqServer) -> None:
    """The document's Python example runs unchanged apart from BASE and API_KEY."""
    api_key, base = server.key, server.url
    resp = httpx.post(
        f"{base}/v2/seedream-4.5",
        headers={"x-api-key": api_key},
        json={"prompt": "a beautiful sunset", "aspect_ratio": "16:9"},
    )
    request_id = resp.json()["request_id"]
    status = poll_status(server, request_id)
    assert status["status"] == "COMPLETED"
    result = httpx.get(f"{base}/v2/requests/{request_id}", headers={"x-api-key": api_key}).json()
    assert result["timings"]["inference"] >= 0
    picture = Image.open(io.BytesIO(httpx.get(result["images"][0]["url"]).content))
    assert picture.width / picture.height == pytest.approx(16 / 9, rel=0.02)


def test_legacy_poll_url_combines_status_and_output(server: GenqServer) -> None:
    """The poll_url (GET /v1/requests/{id}) answers status and output in one body."""
    api = {"x-api-key": server.key}
    submitted = httpx.post(f"{server.url}/v2/seedream-4.5", headers=api, json={"prompt": "x"})
    poll_url = submitted.json()["poll_url"]
    poll_status(server, submitted.json()["request_id"])
    combined = httpx.get(poll_url, headers=api)
    assert combined.status_code == 200
    assert combined.json()["status"] == "COMPLETED"
    assert combined.json()["output"] == combined.json()["images"][0]["url"]


def test_video_result_shape(server: GenqServer) -> None:
    """A video model's result has a video object (url, type, file name, size) and output."""
    api = {"x-api-key": server.key}
    submitted = httpx.post(
        f"{server.url}/v2/kling-video-o3-pro-reference-to-video",
        headers=api,
        json={"prompt": "waves at night", "duration": 1, "aspect_ratio": "9:16"},
    ).json()
    assert poll_status(server, submitted["request_id"])["status"] == "COMPLETED"
    result = httpx.get(submitted["response_url"], headers=api).json()
    video = result["video"]
    assert result["output"] == video["url"]
    assert video["content_type"] == "video/mp4"
    assert video["file_name"].endswith(".mp4")
    data = httpx.get(video["url"]).content
    assert video["file_size"] == len(data)
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frame = next(container.decode(video=0))
        assert stream.codec_context.name == "h264"
        assert frame.height > frame.width  # 9:16


def test_text_result_streams_partial_output(server: GenqServer) -> None:
    """A text model's result shows the text written so far with partial=true, then the
    whole text with partial=false, reasoning and error null."""
    api = {"x-api-key": server.key}
    submitted = httpx.post(
        f"{server.url}/v2/demo-text",
        headers=api,
        json={"prompt": "tell me about rivers", "max_tokens": 60, "token_delay_ms": 40},
    ).json()
    partials: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = httpx.get(submitted["response_url"], headers=api).json()
        if body["status"] == "COMPLETED":
            break
        assert body["partial"] is True
        assert body["reasoning"] is None
        if body["output"]:
            partials.append(body["output"])
        time.sleep(0.1)
    assert body == {
        "status": "COMPLETED",
        "output": body["output"],
        "reasoning": None,
        "partial": False,
        "error": None,
        "metrics": body["metrics"],
    }
    assert len(body["output"].split()) >= 60
    assert partials, "no partial text was seen while the model wrote"
    assert all(body["output"].startswith(p) for p in partials)
    assert any(len(p) < len(body["output"]) for p in partials)


def test_failed_request_answers_422_on_v2_endpoints(server: GenqServer) -> None:
    """A request that fails answers 422 with the FAILED body on both V2 endpoints, and the
    same body with 200 on the legacy poll."""
    api = {"x-api-key": server.key}
    submitted = httpx.post(
        f"{server.url}/v2/noop", headers=api, json={"fail": "the model broke"}
    ).json()
    request_id = submitted["request_id"]
    assert poll_status(server, request_id)["status"] == "FAILED"
    expected = {"status": "FAILED", "error": "the model broke", "metrics": {}}
    for url in (submitted["status_url"], submitted["response_url"]):
        response = httpx.get(url, headers=api)
        assert response.status_code == 422
        assert response.json() == expected
    legacy = httpx.get(submitted["poll_url"], headers=api)
    assert legacy.status_code == 200
    assert legacy.json() == expected


@pytest.mark.parametrize("body", [{"aspect_ratio": "1:1"}, {"prompt": 42}, {"prompt": ""}])
def test_missing_prompt_is_refused_in_segmind_words(server: GenqServer, body: dict) -> None:
    """A request without a string prompt is refused with 422 and Segmind's FAILED body."""
    response = httpx.post(
        f"{server.url}/v2/seedream-4.5", headers={"x-api-key": server.key}, json=body
    )
    assert response.status_code == 422
    assert response.json() == {
        "status": "FAILED",
        "error": "Prompt is Mandatory and must be string",
        "metrics": {},
    }


def test_other_bad_input_is_a_failed_body_naming_the_field(server: GenqServer) -> None:
    """An input value the model refuses answers 422 FAILED, naming the field."""
    response = httpx.post(
        f"{server.url}/v2/seedream-4.5",
        headers={"x-api-key": server.key},
        json={"prompt": "x", "num_images": 99},
    )
    assert response.status_code == 422
    assert response.json()["status"] == "FAILED"
    assert "input/num_images" in response.json()["error"]


def test_unknown_request_is_404_everywhere(server: GenqServer) -> None:
    """An unknown request id answers 404 {"error": "Request ... not found"} on every endpoint."""
    unknown = "00000000-0000-0000-0000-000000000000"
    for path in (
        f"/v2/requests/{unknown}/status",
        f"/v2/requests/{unknown}",
        f"/v1/requests/{unknown}",
    ):
        response = httpx.get(f"{server.url}{path}", headers={"x-api-key": server.key})
        assert response.status_code == 404
        assert response.json() == {"error": f"Request {unknown} not found"}


def test_unknown_model_and_missing_key(server: GenqServer) -> None:
    """An unknown model answers 404 and a missing key 401, both as {"error": ...}."""
    unknown = httpx.post(
        f"{server.url}/v2/no-such-model", headers={"x-api-key": server.key}, json={"prompt": "x"}
    )
    assert unknown.status_code == 404
    assert "no-such-model" in unknown.json()["error"]
    anonymous = httpx.post(f"{server.url}/v2/seedream-4.5", json={"prompt": "x"})
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"error"}


def test_another_accounts_request_is_not_found(server: GenqServer) -> None:
    """Another account's request id answers 404, as if it did not exist."""
    submitted = httpx.post(
        f"{server.url}/v2/seedream-4.5", headers={"x-api-key": server.key}, json={"prompt": "x"}
    ).json()
    stranger = server.new_key("segmind-stranger")
    response = httpx.get(submitted["response_url"], headers={"x-api-key": stranger})
    assert response.status_code == 404


def test_request_is_the_same_job_in_the_native_api(server: GenqServer) -> None:
    """A Segmind request is a native job: same id, its alias kept as its origin; canceling
    it there makes it FAILED here."""
    api = {"x-api-key": server.key}
    submitted = httpx.post(
        f"{server.url}/v2/noop", headers=api, json={"sleep_ms": 60_000, "steps": 600}
    ).json()
    with server.client() as native:
        job = native.get(f"/v1/jobs/{submitted['request_id']}").json()
        assert job["origin"] == {"api": "segmind", "model": "noop"}
        assert native.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    status = poll_status(server, submitted["request_id"])
    assert status == {"status": "FAILED", "error": "the request was canceled", "metrics": {}}


@pytest.mark.slow
def test_results_expire_after_the_segmind_retention(make_server: Any) -> None:
    """After the dialect's result expiry every endpoint answers 404, and so do the links."""
    server = make_server(
        # Long enough for the job to end first on a busy machine (it counts from the submit).
        toml="[dialects.segmind]\nretention_seconds = 8\n",
        sweep_interval_seconds=0.3,
    )
    api = {"x-api-key": server.key}
    submitted = httpx.post(f"{server.url}/v2/demo-image", headers=api, json={"prompt": "x"})
    request_id = submitted.json()["request_id"]
    assert poll_status(server, request_id)["status"] == "COMPLETED"
    link = httpx.get(f"{server.url}/v2/requests/{request_id}", headers=api).json()["output"]
    assert httpx.get(link).status_code == 200

    def gone() -> bool:
        response = httpx.get(f"{server.url}/v2/requests/{request_id}/status", headers=api)
        return response.status_code == 404

    wait_until(gone, timeout=30)
    for path in (f"/v2/requests/{request_id}", f"/v1/requests/{request_id}"):
        response = httpx.get(f"{server.url}{path}", headers=api)
        assert response.status_code == 404
        assert response.json() == {"error": f"Request {request_id} not found"}
    assert httpx.get(link).status_code == 404
    with server.client() as native:
        assert native.get(f"/v1/jobs/{request_id}").status_code == 404
