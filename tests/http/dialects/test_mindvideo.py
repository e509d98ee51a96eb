"""The MindVideo tasks dialect, through real HTTP against a real ``genq serve``: the document's
curl examples with only the host and key replaced."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import av
import httpx
import pytest
import soundfile
from PIL import Image

from tests.conftest import GenqServer

TASKS = "/api/v1/tasks"
STATUSES = {"queued", "processing", "succeeded", "failed", "cancelled"}
TASK_FIELDS = {
    "request_id",
    "task_id",
    "model",
    "status",
    "cost_estimate",
    "cost_actual",
    "output",
    "error",
    "created_at",
    "updated_at",
}
#: The document's create request, byte for byte as its curl example sends it.
DOCUMENT_BODY = """{
"model": "qwen-image-2-0-pro",
"input": {
"prompt": "赛博朋克风格的未来城市夜景,霓虹灯闪烁,画面细节丰富,真实质感",
"size": "16:9",
"resolution": "2K",
"n": 1
}
}"""


def headers(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    """The create example's headers."""
    sent = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idempotency_key is not None:
        sent["Idempotency-Key"] = idempotency_key
    return sent


def create(
    server: GenqServer,
    model: str,
    input: dict[str, Any],
    *,
    key: str | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    return httpx.post(
        server.url + TASKS,
        headers=headers(key or server.key, idempotency_key),
        json={"model": model, "input": input},
        timeout=60,
    )


def created(server: GenqServer, model: str, input: dict[str, Any]) -> dict[str, Any]:
    response = create(server, model, input)
    assert response.status_code == 200, response.text
    return response.json()


def get_task(server: GenqServer, task_id: str) -> httpx.Response:
    """The document's poll example: a GET with only the Authorization header."""
    return httpx.get(
        f"{server.url}{TASKS}/{task_id}",
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=60,
    )


def poll(server: GenqServer, task_id: str, timeout: float = 90) -> dict[str, Any]:
    """Poll the task until its status is terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = get_task(server, task_id)
        assert response.status_code == 200, response.text
        task = response.json()
        assert_task_shape(task)
        if task["status"] not in ("queued", "processing"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s")


def read_events(
    server: GenqServer, task_id: str, last_event_id: str | None = None
) -> list[dict[str, Any]]:
    """The document's events example, read to its end: each event's id, name and data."""
    sent = {"Authorization": f"Bearer {server.key}"}
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    url = f"{server.url}{TASKS}/{task_id}/events"
    with httpx.stream("GET", url, headers=sent, timeout=90) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = json.loads(value) if name == "data" else value
    return events


def assert_task_shape(task: dict[str, Any]) -> None:
    assert set(task) == TASK_FIELDS
    assert task["status"] in STATUSES
    assert task["task_id"].startswith("job_")
    assert task["request_id"] == "req_" + task["task_id"].removeprefix("job_")
    assert isinstance(task["cost_estimate"], float)
    assert task["created_at"].endswith("Z")
    if task["status"] in ("queued", "processing"):
        assert task["output"] is None
        assert task["cost_actual"] is None
        assert task["error"] is None


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["request_id"].startswith("req_")
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


def test_document_example_runs_end_to_end(server: GenqServer) -> None:
    """The document's create, poll and events examples give one 2048x1152 image, a queued,
    processing, succeeded stream that ends, and a job the native API knows."""
    response = httpx.post(
        server.url + TASKS,
        headers=headers(server.key, f"task_{int(time.time())}"),
        content=DOCUMENT_BODY.encode(),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    task = response.json()
    assert_task_shape(task)
    assert task["model"] == "qwen-image-2-0-pro"
    assert task["status"] in ("queued", "processing")
    assert task["cost_estimate"] > 0

    done = poll(server, task["task_id"])
    assert done["status"] == "succeeded"
    assert done["request_id"] == task["request_id"]
    assert done["cost_actual"] == done["cost_estimate"]
    assert done["error"] is None
    [image] = done["output"]["images"]
    assert image["content_type"] == "image/png"
    assert (image["width"], image["height"]) == (2048, 1152)
    picture = Image.open(io.BytesIO(httpx.get(image["url"], follow_redirects=True).content))
    assert picture.format == "PNG"
    assert picture.size == (2048, 1152)

    events = read_events(server, task["task_id"])
    assert [e["event"] for e in events] == ["status"] * 3
    assert [e["data"]["status"] for e in events] == ["queued", "processing", "succeeded"]
    assert all(e["data"]["task_id"] == task["task_id"] for e in events)
    assert events[0]["data"]["output"] is None
    assert events[-1]["data"]["output"]["images"][0]["width"] == 2048

    with server.client() as api:
        job = api.get(f"/v1/jobs/{task['task_id']}").json()
    assert job["status"] == "succeeded"
    assert job["model"] == "demo-image"
    assert job["origin"] == {"api": "mindvideo", "model": "qwen-image-2-0-pro"}


sqlite_only = pytest.mark.backends("sqlite")


@sqlite_only
def test_idempotent_replay_returns_the_original_task_without_charging(
    server: GenqServer,
) -> None:
    """The same Idempotency-Key and payload returns the original task and holds no more
    credits; the same key with other input answers 409."""
    key = server.new_key(f"mv-idem-{uuid.uuid4().hex[:8]}", "--credits", "0.004")
    idempotency_key = f"task_{uuid.uuid4().hex}"
    input = {"prompt": "a lighthouse at dusk", "size": "1:1", "n": 1}
    first = create(server, "qwen-image-2-0-pro", input, key=key, idempotency_key=idempotency_key)
    assert first.status_code == 200, first.text
    original = first.json()
    assert "Idempotent-Replayed" not in first.headers
    for _ in range(3):
        again = create(
            server, "qwen-image-2-0-pro", dict(input), key=key, idempotency_key=idempotency_key
        )
        assert again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["task_id"] == original["task_id"]
        assert again.json()["request_id"] == original["request_id"]
        assert again.json()["cost_estimate"] == original["cost_estimate"]

    other = create(
        server,
        "qwen-image-2-0-pro",
        {**input, "prompt": "a different lighthouse"},
        key=key,
        idempotency_key=idempotency_key,
    )
    assert_error(other, 409, "idempotency_conflict")

    # The replays held nothing: one more image still fits in the credits, then none does.
    second = create(server, "qwen-image-2-0-pro", input, key=key)
    assert second.status_code == 200, second.text
    assert second.json()["task_id"] != original["task_id"]
    assert_error(create(server, "qwen-image-2-0-pro", input, key=key), 402, "insufficient_credits")


@sqlite_only
@pytest.mark.parametrize(
    ("input", "path"),
    [
        ({"prompt": "a cat", "size": "5:4"}, "input/size"),
        ({"prompt": "a cat", "resolution": "4K"}, "input/resolution"),
        ({"prompt": "a cat", "n": 7}, "input/n"),
        ({"prompt": "a cat", "n": 0}, "input/n"),
        ({"prompt": "a cat", "n": 1.5}, "input/n"),
        ({"prompt": "a cat", "n": "2"}, "input/n"),
        ({"prompt": ""}, "input/prompt"),
        ({"prompt": "x" * 801}, "input/prompt"),
        ({"prompt": "a cat", "seed": 3}, "input/seed"),
        ({"size": "1:1"}, "input/prompt"),
    ],
)
def test_vendor_schema_violations_answer_422_naming_the_field(
    server: GenqServer, input: dict[str, Any], path: str
) -> None:
    """Input that breaks qwen-image-2-0-pro's schema answers 422 with the field's path."""
    error = assert_error(create(server, "qwen-image-2-0-pro", input), 422, "validation_error")
    assert path in [d["path"] for d in error["details"]]
    assert path in error["message"]


@sqlite_only
def test_models_without_a_vendor_schema_refuse_unknown_fields(server: GenqServer) -> None:
    """A field the model does not take answers 422 naming it rather than being dropped."""
    error = assert_error(
        create(server, "demo-image", {"prompt": "a cat", "sharpness": 3}), 422, "validation_error"
    )
    assert error["details"][0]["path"] == "input/sharpness"


@sqlite_only
def test_request_errors_answer_in_one_shape(server: GenqServer) -> None:
    """Unknown model 404, bad JSON 400, missing or unknown key 401, unknown task 404, a body
    that is no task 422: all as {error: {code, message}, request_id}."""
    missing = assert_error(create(server, "no-such-model", {"prompt": "x"}), 404, "model_not_found")
    assert "no-such-model" in missing["message"]
    bad_json = httpx.post(server.url + TASKS, headers=headers(server.key), content=b'{"model":')
    assert_error(bad_json, 400, "invalid_json")
    no_key = httpx.post(server.url + TASKS, json={"model": "noop", "input": {}})
    assert_error(no_key, 401, "unauthorized")
    wrong_key = httpx.get(f"{server.url}{TASKS}/job_x", headers={"Authorization": "Bearer nope"})
    assert_error(wrong_key, 401, "unauthorized")
    assert_error(get_task(server, "job_missing"), 404, "task_not_found")
    for body, path in (
        ({"input": {}}, "model"),
        ({"model": "noop", "input": [1]}, "input"),
        ({"model": "noop", "input": {}, "webhook_url": "http://x"}, "webhook_url"),
    ):
        response = httpx.post(server.url + TASKS, headers=headers(server.key), json=body)
        assert assert_error(response, 422, "validation_error")["details"][0]["path"] == path


@sqlite_only
def test_failed_task_reads_failed_with_its_error(server: GenqServer) -> None:
    """A task whose model raises reads failed, with an error code and message and no output."""
    task = created(server, "noop", {"fail": "the model gave up"})
    done = poll(server, task["task_id"])
    assert done["status"] == "failed"
    assert done["output"] is None
    assert done["error"]["code"]
    assert "the model gave up" in done["error"]["message"]


@sqlite_only
def test_cancel_stops_a_task_and_reads_cancelled(server: GenqServer) -> None:
    """POST .../cancel stops a running task, which then reads cancelled (also after a native
    cancel); cancelling a succeeded task answers 409."""
    task = created(server, "noop", {"sleep_ms": 60000, "steps": 600})
    response = httpx.post(
        f"{server.url}{TASKS}/{task['task_id']}/cancel",
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["task_id"] == task["task_id"]
    assert response.json()["status"] in ("processing", "cancelled")
    done = poll(server, task["task_id"])
    assert done["status"] == "cancelled"
    assert done["output"] is None
    with server.client() as api:
        assert api.get(f"/v1/jobs/{task['task_id']}").json()["status"] == "canceled"
        natively = created(server, "noop", {"sleep_ms": 60000, "steps": 600})
        assert api.post(f"/v1/jobs/{natively['task_id']}/cancel").status_code == 200
    assert poll(server, natively["task_id"])["status"] == "cancelled"

    finished = created(server, "noop", {})
    assert poll(server, finished["task_id"])["status"] == "succeeded"
    refused = httpx.post(
        f"{server.url}{TASKS}/{finished['task_id']}/cancel",
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert assert_error(refused, 409, "task_not_cancellable")["details"] == {"status": "succeeded"}


@sqlite_only
def test_events_resume_after_last_event_id(server: GenqServer) -> None:
    """Reconnecting with Last-Event-ID replays only the status events after it, then ends."""
    task = created(server, "noop", {"sleep_ms": 300, "steps": 3})
    events = read_events(server, task["task_id"])
    assert [e["data"]["status"] for e in events] == ["queued", "processing", "succeeded"]
    resumed = read_events(server, task["task_id"], last_event_id=events[0]["id"])
    assert [e["id"] for e in resumed] == [e["id"] for e in events[1:]]
    assert read_events(server, task["task_id"], last_event_id=events[-1]["id"]) == []
    bad = httpx.get(
        f"{server.url}{TASKS}/{task['task_id']}/events",
        headers={"Authorization": f"Bearer {server.key}", "Last-Event-ID": "x"},
    )
    assert_error(bad, 422, "validation_error")


@sqlite_only
def test_video_task_outputs_a_playable_mp4(server: GenqServer) -> None:
    """A video model's task puts an H.264 MP4 with its size, duration and thumbnail in
    output.videos."""
    task = created(
        server, "kling-video-o3-pro-reference-to-video", {"prompt": "waves", "duration": 1}
    )
    done = poll(server, task["task_id"])
    assert done["status"] == "succeeded", done
    [video] = done["output"]["videos"]
    assert video["content_type"] == "video/mp4"
    assert video["duration"] > 0
    data = httpx.get(video["url"], follow_redirects=True).content
    with av.open(io.BytesIO(data), mode="r") as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (video["width"], video["height"])
    assert frame.to_ndarray(format="rgb24").std() > 0  # a real picture, not a blank frame
    thumbnail = httpx.get(video["thumbnail_url"], follow_redirects=True).content
    assert Image.open(io.BytesIO(thumbnail)).format == "JPEG"


@sqlite_only
def test_audio_task_outputs_a_readable_wav(server: GenqServer) -> None:
    """An audio model's task puts a sound file with its duration in output.audios."""
    task = created(server, "hkchengrex/MMAudio", {"prompt": "rain on a roof", "duration": 1})
    done = poll(server, task["task_id"])
    assert done["status"] == "succeeded", done
    [audio] = done["output"]["audios"]
    assert audio["content_type"].startswith("audio/")
    data = httpx.get(audio["url"], follow_redirects=True).content
    samples, rate = soundfile.read(io.BytesIO(data))
    assert len(samples) > 0
    assert len(samples) / rate == pytest.approx(audio["duration"], abs=0.05)


@sqlite_only
def test_text_task_outputs_its_text(server: GenqServer) -> None:
    """A text model's task carries the generated text in output.text and as a file."""
    task = created(server, "demo-text", {"prompt": "the sea", "max_tokens": 12})
    done = poll(server, task["task_id"])
    assert done["status"] == "succeeded", done
    text = done["output"]["text"]
    assert text
    [file] = done["output"]["files"]
    assert file["content_type"].startswith("text/plain")
    assert httpx.get(file["url"], follow_redirects=True).text == text
