"""fal's queue API in-process: its answers' shapes, app ids, keys, and a request through each
of its states. The application runs no workers: a test moves a job on as a worker would,
through the store, to reach each state at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from genq.http.dialects.fal.answers import webhook_body
from genq.http.links import Links
from genq.jobs import Claim, EventType, Failure, OutputRecord, WebhookEvent
from genq.keys import create_key
from genq.server import build_app
from genq.service import JobService
from genq.settings import Settings

pytestmark = pytest.mark.backends("sqlite")

LEASE = 30.0
#: Starlette's test client's answers (another HTTP library than the one genq's tests use).
Answer = Any


@dataclass
class Fal:
    client: TestClient
    service: JobService
    key: str

    def headers(self, key: str | None = None, **more: str) -> dict[str, str]:
        return {"Authorization": f"Key {key or self.key}", **more}

    def submit(self, app: str, body: Any, key: str | None = None, **headers: str) -> Answer:
        return self.client.post(
            f"/fal/queue/{app}", json=body, headers=self.headers(key, **headers)
        )

    def queued(self, app: str, body: Any, **headers: str) -> dict[str, Any]:
        answer = self.submit(app, body, **headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def get(self, url: str, key: str | None = None, **params: Any) -> Answer:
        return self.client.get(url, params=params, headers=self.headers(key))

    def cancel(self, url: str, key: str | None = None) -> Answer:
        return self.client.put(url, headers=self.headers(key))

    def job(self, job_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/v1/jobs/{job_id}", headers=self.headers())
        return dict(answer.json())

    def claim(self, model: str) -> Claim:
        """Take the oldest queued job of ``model`` as a worker does."""
        [claim] = self.service.store.claim("w1", [model], time.time(), LEASE)
        return claim


@pytest.fixture
def fal(tmp_path: Path) -> Iterator[Fal]:
    app = build_app(Settings(data_dir=tmp_path), workers=False)
    service: JobService = app.state.service
    _, key = create_key(service.store, "default", admin=True)
    with TestClient(app) as client:
        yield Fal(client, service, key)


def test_a_submit_answers_the_request_and_its_urls_at_the_apps_base(fal: Fal) -> None:
    """A submit answers IN_QUEUE with the request id and its status, result and cancel URLs
    at the app's base (its path dropped, as fal's client rebuilds them), its place in the
    queue, and the request id as a header; fal's image fields reach the model translated."""
    answer = fal.submit(
        "fal-ai/flux/schnell",
        {
            "prompt": "a lighthouse",
            "image_size": "landscape_16_9",
            "num_inference_steps": 4,
            "enable_safety_checker": True,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    request_id = body["request_id"]
    base = f"http://testserver/fal/queue/fal-ai/flux/requests/{request_id}"
    assert body == {
        "status": "IN_QUEUE",
        "request_id": request_id,
        "response_url": base,
        "status_url": f"{base}/status",
        "cancel_url": f"{base}/cancel",
        "queue_position": 0,
    }
    assert answer.headers["x-fal-request-id"] == request_id
    job = fal.job(request_id)
    assert job["model"] == "demo-image"
    assert job["origin"] == {"api": "fal", "model": "fal-ai/flux/schnell"}
    assert job["input"] == {
        "prompt": "a lighthouse",
        "steps": 4,
        "width": 1024,
        "height": 576,
        "num_images": 1,
        "output_format": "png",
    }
    second = fal.queued("fal-ai/flux/dev", {"prompt": "b"})
    assert second["queue_position"] == 1


@pytest.mark.parametrize(
    ("app", "model"),
    [
        ("genq/demo-image", "demo-image"),
        ("genq/noop", "noop"),
        ("genq/noop/any/path", "noop"),
        ("fal-ai/flux/schnell", "demo-image"),
        ("fal-ai/flux/dev/more", "demo-image"),
        ("genq/Qwen/Qwen-Image", "demo-image"),
    ],
)
def test_app_ids_name_models_and_aliases(fal: Fal, app: str, model: str) -> None:
    """An app id runs the model or alias of its whole id, its OWNER/NAME base, or, under the
    owner genq, its name alone (an alias with a slash too)."""
    queued = fal.queued(app, {"prompt": "x"} if model == "demo-image" else {})
    assert fal.job(queued["request_id"])["model"] == model


@pytest.mark.parametrize("app", ["demo-image", "acme/demo-image", "genq/nosuch", "a//b"])
def test_app_ids_that_name_nothing_are_not_found(fal: Fal, app: str) -> None:
    """A one-part id, another owner's name for a genq model, an unknown name and an empty
    part answer 404 with fal's detail and error_type."""
    answer = fal.submit(app, {"prompt": "x"})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error_type"] == "app_not_found"
    assert "not found" in answer.json()["detail"]
    assert answer.headers["x-fal-error-type"] == "app_not_found"


def test_the_own_owner_is_a_setting(tmp_path: Path) -> None:
    """``[dialects.fal] owner`` names the owner whose app names are genq's own."""
    settings = Settings.load(data_dir=tmp_path, dialects={"fal": {"owner": "acme"}})
    app = build_app(settings, workers=False)
    _, key = create_key(app.state.service.store, "default", admin=True)
    with TestClient(app) as client:
        auth = {"Authorization": f"Key {key}"}
        ours = client.post("/fal/queue/acme/noop", json={}, headers=auth)
        theirs = client.post("/fal/queue/genq/noop", json={}, headers=auth)
    assert (ours.status_code, theirs.status_code) == (200, 404)


def test_keys_go_in_fals_key_scheme_or_as_bearer(fal: Fal) -> None:
    """``Authorization: Key KEY`` (fal's scheme) and ``Bearer KEY`` both authenticate, on
    the fal routes and the native ones; no key or an unknown one is a 401 in fal's shape."""
    for scheme in ("Key", "Bearer", "key"):
        auth = {"Authorization": f"{scheme} {fal.key}"}
        assert fal.client.post("/fal/queue/genq/noop", json={}, headers=auth).status_code == 200
        assert fal.client.get("/v1/jobs", headers=auth).status_code == 200
    for auth in ({}, {"Authorization": "Key nope"}):
        refused = fal.client.post("/fal/queue/genq/noop", json={}, headers=auth)
        assert refused.status_code == 401
        assert refused.json()["error_type"] == "unauthorized"
        assert isinstance(refused.json()["detail"], str)


def test_invalid_requests_name_each_field_as_fals_apps_do(fal: Fal) -> None:
    """An invalid argument, parameter or header answers 422 with a detail list of
    ``{loc, msg, type}``, located in the body, query or header; a broken body is a 400."""
    cases = [
        (fal.submit("genq/demo-image", {"prompt": "x", "num_images": 99}), ["body", "num_images"]),
        (fal.submit("genq/demo-image", {"num_images": 2}), ["body", "prompt"]),
        (
            fal.submit("genq/noop", {}, **{"X-Fal-Request-Timeout": "soon"}),
            ["header", "x-fal-request-timeout"],
        ),
        (
            fal.submit("genq/noop", {}, **{"X-Fal-Queue-Priority": "high"}),
            ["header", "x-fal-queue-priority"],
        ),
        (
            fal.client.post(
                "/fal/queue/genq/noop?fal_webhook=http://example.com/hook",
                json={},
                headers=fal.headers(),
            ),
            ["query", "fal_webhook"],
        ),
    ]
    for answer, loc in cases:
        assert answer.status_code == 422, answer.text
        [issue] = answer.json()["detail"]
        assert issue["loc"] == loc
        assert issue["msg"]
        assert issue["type"] == "value_error"
    broken = fal.client.post("/fal/queue/genq/noop", content=b"{", headers=fal.headers())
    assert broken.status_code == 400
    assert broken.json()["error_type"] == "invalid_json"


def test_priority_and_request_timeout_headers_set_the_job(fal: Fal) -> None:
    """``X-Fal-Queue-Priority: low`` queues a request behind normal ones; the seconds of
    ``X-Fal-Request-Timeout`` are its start deadline."""
    low = fal.queued("genq/noop", {}, **{"X-Fal-Queue-Priority": "low"})
    normal = fal.queued(
        "genq/noop", {}, **{"X-Fal-Queue-Priority": "normal", "X-Fal-Request-Timeout": "30"}
    )
    assert (fal.job(low["request_id"])["priority"], low["queue_position"]) == (-1, 0)
    assert fal.job(normal["request_id"])["priority"] == 0
    assert normal["queue_position"] == 0
    assert fal.job(normal["request_id"])["start_deadline"] is not None
    assert fal.job(low["request_id"])["start_deadline"] is None
    status = fal.get(low["status_url"]).json()
    assert status["queue_position"] == 1


def test_status_logs_when_asked_and_metrics_when_done(fal: Fal) -> None:
    """A running request is IN_PROGRESS, with its model's log lines when asked for
    (logs=true or 1) and logs null otherwise; done, it is COMPLETED with its inference
    time."""
    queued = fal.queued("genq/noop", {})
    claim = fal.claim("noop")
    for line in ("loading", "step 1"):
        fal.service.store.add_event(claim, EventType.LOG, {"message": line}, time.time())
    for flag in ("true", "1"):
        running = fal.get(queued["status_url"], logs=flag).json()
        assert running["status"] == "IN_PROGRESS"
        assert [entry["message"] for entry in running["logs"]] == ["loading", "step 1"]
        for entry in running["logs"]:
            assert set(entry) == {"message", "level", "source", "timestamp"}
            assert entry["timestamp"].endswith("Z")
    for params in ({}, {"logs": "false"}):
        quiet = fal.get(queued["status_url"], **params).json()
        assert (quiet["status"], quiet["logs"]) == ("IN_PROGRESS", None)
        assert "queue_position" not in quiet
    too_soon = fal.get(queued["response_url"])
    assert too_soon.status_code == 400
    assert too_soon.json()["detail"] == "Request is still in progress"
    fal.service.store.finish(claim, time.time(), inference_time=1.25)
    done = fal.get(queued["status_url"], logs="true").json()
    assert done["status"] == "COMPLETED"
    assert done["metrics"] == {"inference_time": 1.25}
    assert len(done["logs"]) == 2
    assert "error" not in done
    text = {"output": "", "partial": False, "reasoning": None, "error": None}
    assert fal.get(queued["response_url"]).json() == text


def test_an_image_result_has_fals_image_shape(fal: Fal) -> None:
    """A succeeded image request answers ``images`` (url, content type, file name and size,
    width, height), the seed and prompt, its timings and one has_nsfw_concepts per image."""
    queued = fal.queued("fal-ai/flux/schnell", {"prompt": "dunes", "seed": 7, "num_images": 2})
    claim = fal.claim("demo-image")
    outputs = [
        OutputRecord(f"{claim.job.id}/out-{i}.png", "image/png", 100 + i, "0" * 64, 64, 32)
        for i in range(2)
    ]
    fal.service.store.finish(claim, time.time(), outputs=outputs, inference_time=0.5)
    answer = fal.get(queued["response_url"])
    assert answer.status_code == 200
    assert answer.headers["x-fal-request-id"] == queued["request_id"]
    result = answer.json()
    assert set(result) == {"images", "seed", "prompt", "timings", "has_nsfw_concepts"}
    assert (result["seed"], result["prompt"]) == (7, "dunes")
    assert result["timings"] == {"inference": 0.5}
    assert result["has_nsfw_concepts"] == [False, False]
    for index, image in enumerate(result["images"]):
        url = image.pop("url")
        assert url.startswith("http://testserver/files/")
        assert image == {
            "content_type": "image/png",
            "file_name": f"out-{index}.png",
            "file_size": 100 + index,
            "width": 64,
            "height": 32,
        }


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (Failure("model_error", "boom"), 500, "runner_server_error"),
        (Failure("timeout", "ran past its timeout"), 504, "request_timeout"),
        (Failure("invalid_input", "no such image"), 422, "invalid_input"),
        (Failure("worker_lost", "the worker died"), 503, "runner_disconnected"),
    ],
)
def test_a_failed_request_is_completed_with_its_error(
    fal: Fal, error: Failure, status: int, error_type: str
) -> None:
    """A failed request's status is COMPLETED with error and error_type; its result answers
    the HTTP status of the failure with ``{detail, error_type}`` and X-Fal-Error-Type."""
    queued = fal.queued("genq/noop", {})
    fal.service.store.finish(fal.claim("noop"), time.time(), error=error)
    done = fal.get(queued["status_url"]).json()
    assert (done["status"], done["error"], done["error_type"]) == (
        "COMPLETED",
        error.message,
        error_type,
    )
    answer = fal.get(queued["response_url"])
    assert answer.status_code == status
    assert answer.json() == {"detail": error.message, "error_type": error_type}
    assert answer.headers["x-fal-error-type"] == error_type


def test_a_request_not_started_within_its_request_timeout_ends(fal: Fal) -> None:
    """A request still queued past its X-Fal-Request-Timeout ends: COMPLETED with
    request_timeout, its result a 504 marked as the caller's own limit (which fal's client
    does not retry)."""
    queued = fal.queued("genq/noop", {}, **{"X-Fal-Request-Timeout": "0.05"})
    time.sleep(0.1)
    fal.client.portal.call(fal.service.expire_start_deadlines)  # type: ignore[union-attr]
    done = fal.get(queued["status_url"]).json()
    assert (done["status"], done["error_type"]) == ("COMPLETED", "request_timeout")
    answer = fal.get(queued["response_url"])
    assert answer.status_code == 504
    assert answer.json()["error_type"] == "request_timeout"
    assert answer.headers["x-fal-request-timeout-type"] == "user"


def test_cancel_answers_requested_then_already_completed(fal: Fal) -> None:
    """A queued request's cancel answers 202 CANCELLATION_REQUESTED and the request ends
    (its result a 499 client_cancelled); a running one is asked to stop; a request already
    done answers 400 ALREADY_COMPLETED."""
    queued = fal.queued("genq/noop", {})
    answer = fal.cancel(queued["cancel_url"])
    assert (answer.status_code, answer.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert fal.job(queued["request_id"])["status"] == "canceled"
    result = fal.get(queued["response_url"])
    assert (result.status_code, result.json()["error_type"]) == (499, "client_cancelled")
    again = fal.cancel(queued["cancel_url"])
    assert again.status_code == 400
    assert again.json()["status"] == "ALREADY_COMPLETED"
    running = fal.queued("genq/noop", {})
    fal.claim("noop")
    assert fal.cancel(running["cancel_url"]).status_code == 202
    job = fal.job(running["request_id"])
    assert (job["status"], job["cancel_requested"]) == ("running", True)
    assert fal.cancel(running["cancel_url"]).status_code == 202


def test_requests_are_read_at_their_own_apps_base_only(fal: Fal) -> None:
    """A request is read and canceled at its app's base, with the path or without it, and
    is not found under another app or by another route's method."""
    queued = fal.queued("genq/noop/some/path", {})
    request_id = queued["request_id"]
    assert queued["status_url"].endswith(f"/fal/queue/genq/noop/requests/{request_id}/status")
    with_path = f"/fal/queue/genq/noop/some/path/requests/{request_id}/status"
    assert fal.get(with_path).json()["status"] == "IN_QUEUE"
    for other in ("genq/demo-image", "fal-ai/flux"):
        answer = fal.get(f"/fal/queue/{other}/requests/{request_id}/status")
        assert answer.status_code == 404
        assert answer.json()["error_type"] == "request_not_found"
    posted = fal.client.post(queued["cancel_url"], json={}, headers=fal.headers())
    assert posted.status_code == 405
    assert fal.job(request_id)["status"] == "queued"


def test_another_accounts_request_is_not_found_and_left_alone(fal: Fal) -> None:
    """Another account's request id answers 404 on status, stream, result and cancel, and
    the request stays queued for its owner."""
    queued = fal.queued("genq/noop", {})
    _, stranger = create_key(fal.service.store, "stranger")
    for answer in (
        fal.get(queued["status_url"], key=stranger),
        fal.get(queued["status_url"] + "/stream", key=stranger),
        fal.get(queued["response_url"], key=stranger),
        fal.cancel(queued["cancel_url"], key=stranger),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error_type"] == "request_not_found"
    job = fal.job(queued["request_id"])
    assert (job["status"], job["cancel_requested"]) == ("queued", False)


def test_native_jobs_are_not_fal_requests(fal: Fal) -> None:
    """A job submitted natively is not found through the fal routes."""
    native = fal.client.post(
        "/v1/jobs", json={"model": "noop", "input": {}}, headers=fal.headers()
    ).json()
    answer = fal.get(f"/fal/queue/genq/noop/requests/{native['id']}/status")
    assert answer.status_code == 404


def test_the_status_stream_ends_with_completed(fal: Fal) -> None:
    """The status stream of a request already done sends its COMPLETED status, then ends."""
    queued = fal.queued("genq/noop", {})
    fal.service.store.finish(fal.claim("noop"), time.time(), inference_time=0.1)
    with fal.client.stream(
        "GET", queued["status_url"] + "/stream", headers=fal.headers()
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        data = [line for line in stream.iter_lines() if line.startswith("data:")]
    assert len(data) == 1
    assert '"status":"COMPLETED"' in data[0]


def test_webhook_bodies_are_fals(fal: Fal) -> None:
    """The body of a ``fal_webhook`` call is fal's: OK with the result as payload, or ERROR
    with the error as payload and the status in ``error``."""
    svc, links = fal.service, Links(fal.service.storage, "https://genq.example", lambda j: 1e10)
    good = fal.queued("genq/noop", {})
    fal.service.store.finish(fal.claim("noop"), time.time())
    bad = fal.queued("genq/noop", {})
    fal.service.store.finish(fal.claim("noop"), time.time(), error=Failure("model_error", "x"))

    async def bodies() -> list[dict[str, Any]]:
        store, now = fal.service.store, time.time()
        jobs = [store.get_job_any_account(answer["request_id"], now) for answer in (good, bad)]
        event, base = WebhookEvent.COMPLETED, "https://genq.example"
        return [await webhook_body(svc, job, event, base, links) for job in jobs if job]

    ok, error = fal.client.portal.call(bodies)  # type: ignore[union-attr]
    assert ok == {
        "request_id": good["request_id"],
        "gateway_request_id": good["request_id"],
        "status": "OK",
        "payload": {"output": "", "partial": False, "reasoning": None, "error": None},
        "error": None,
    }
    assert error == {
        "request_id": bad["request_id"],
        "gateway_request_id": bad["request_id"],
        "status": "ERROR",
        "payload": {"detail": "x", "error_type": "runner_server_error"},
        "error": "Invalid status code: 500",
    }
