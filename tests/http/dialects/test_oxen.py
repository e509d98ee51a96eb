"""The Oxen.ai dialect: the async queue, its status list and cancel, the synchronous generate
endpoints, through real HTTP against a real ``genq serve``."""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from tests.conftest import Backend, GenqServer, wait_for, wait_until

pytestmark = pytest.mark.backends("sqlite")

KLING = "kling-video-o3-pro-reference-to-video"
GONE = "Generation already completed or doesn't exist"
RANGE_ERROR = "num_generations must be an integer between 1 and 4"
#: Settings of a server whose jobs never start, to see generations while they are queued.
IDLE_TOML = "[dialects.oxen]\nsync_timeout_seconds = 4\n"


class Oxen:
    """A client as Oxen's examples make it: a bearer key, JSON bodies, and its namespace."""

    def __init__(self, server: GenqServer, account: str | None = None, **key_options: str):
        self.namespace = account or f"oxen-{uuid.uuid4().hex[:8]}"
        extra = [item for pair in key_options.items() for item in (f"--{pair[0]}", pair[1])]
        self.key = server.new_key(self.namespace, *extra)
        self.http = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
            timeout=90,
        )

    def close(self) -> None:
        self.http.close()

    def enqueue(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/api/ai/queue", json=body)

    def generation_ids(self, body: dict[str, Any]) -> list[str]:
        response = self.enqueue(body)
        assert response.status_code == 200, response.text
        return [g["generation_id"] for g in response.json()["generations"]]

    def status(self, model: str, namespace: str | None = None) -> httpx.Response:
        return self.http.get(f"/api/media/generations/status/{namespace or self.namespace}/{model}")

    def poll_until_done(self, model: str, interval: float = 1.0, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.status(model)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["count"] == len(body["generations"])
            if body["count"] == 0:
                return
            time.sleep(interval)
        raise AssertionError(f"generations of {model} still in progress after {timeout} s")

    def cancel(self, generation_id: str, namespace: str | None = None) -> httpx.Response:
        return self.http.delete(
            f"/api/media/generations/{namespace or self.namespace}/{generation_id}"
        )

    def job(self, generation_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{generation_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())


MakeOxen = Callable[..., Oxen]


@pytest.fixture
def client() -> Iterator[MakeOxen]:
    """Make Oxen clients (each with a key of its own account); closed after the test."""
    made: list[Oxen] = []

    def make(server: GenqServer, account: str | None = None, **key_options: str) -> Oxen:
        made.append(Oxen(server, account, **key_options))
        return made[-1]

    yield make
    for oxen in made:
        oxen.close()


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """A server with no workers: its generations stay queued until canceled."""
    directory = tmp_path_factory.mktemp("oxen-idle")
    server = GenqServer(directory / "data", IDLE_TOML, Backend("sqlite"), workers=0).start()
    yield server
    server.close()


def check_png(url: str, size: tuple[int, int]) -> bytes:
    data = httpx.get(url, follow_redirects=True, timeout=60).content
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == size
    return data


def check_mp4(url: str) -> None:
    data = httpx.get(url, follow_redirects=True, timeout=60).content
    with av.open(io.BytesIO(data), mode="r") as container:
        assert "mp4" in container.format.name
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape[0] > 0
    assert frame.std() > 0  # a picture, not a blank frame


@pytest.mark.backends("sqlite", "postgres")
def test_batch_image_generation_with_polling(server: GenqServer, client: MakeOxen) -> None:
    """Four queued images leave the status list once done; each is then a finished job of the
    native API with its own image."""
    oxen = client(server)
    ids = oxen.generation_ids(
        {
            "model": "demo-image",
            "prompt": "A lighthouse on a cliff at dawn",
            "num_generations": 4,
            "seed": 11,
            "width": 128,
            "height": 96,
        }
    )
    assert len(set(ids)) == 4
    oxen.poll_until_done("demo-image")
    digests = set()
    for generation_id in ids:
        job = oxen.job(generation_id)
        assert job["status"] == "succeeded"
        [output] = job["outputs"]
        assert output["content_type"] == "image/png"
        digests.add(hashlib.sha256(check_png(output["url"], (128, 96))).hexdigest())
    assert len(digests) == 4  # seed + i per generation


def test_enqueue_answers_one_queued_generation_per_request_by_default(
    server: GenqServer, client: MakeOxen
) -> None:
    """Without num_generations one generation is queued, answered as generation_id + status."""
    oxen = client(server)
    response = oxen.enqueue({"model": "demo-image", "prompt": "one", "width": 64, "height": 64})
    assert response.status_code == 200
    [generation] = response.json()["generations"]
    assert set(generation) == {"generation_id", "status"}
    assert generation["status"] == "queued"
    assert wait_for(oxen.http, generation["generation_id"])["status"] == "succeeded"


def test_async_video_generation_with_the_kling_slug(server: GenqServer, client: MakeOxen) -> None:
    """A Kling generation runs on the demo video model: a 2 s MP4 with a thumbnail, read
    through the native API once the status list is empty."""
    oxen = client(server)
    [generation_id] = oxen.generation_ids(
        {
            "model": KLING,
            "prompt": "A paper boat drifting down a rainy street",
            "duration": 2,
            "aspect_ratio": "16:9",
            "generate_audio": False,
            "input_image": "https://example.com/reference.png",
        }
    )
    oxen.poll_until_done(KLING, interval=2)
    job = oxen.job(generation_id)
    assert job["status"] == "succeeded"
    assert job["model"] == "demo-video"
    [output] = job["outputs"]
    assert output["content_type"] == "video/mp4"
    assert output["duration"] == pytest.approx(2, abs=0.2)
    check_mp4(output["url"])
    thumbnail = httpx.get(output["thumbnail_url"], timeout=60)
    assert thumbnail.headers["content-type"] == "image/jpeg"


def test_status_lists_queued_generations_with_their_params(
    idle_server: GenqServer, client: MakeOxen
) -> None:
    """The status list shows each queued generation with its id, model, enqueue time, status
    and the params it was submitted with (seed moved on by one per generation)."""
    oxen = client(idle_server)
    before = int(time.time())
    body = {
        "model": "Qwen/Qwen-Image",
        "prompt": "A red fox in snow",
        "num_generations": 2,
        "seed": 5,
        "aspect_ratio": "1:1",
        "response_format": "url",
        "target_namespace": oxen.namespace,
    }
    ids = oxen.generation_ids(body)
    listed = oxen.status("Qwen/Qwen-Image").json()
    assert listed["count"] == 2
    assert [g["generation_id"] for g in listed["generations"]] == ids
    for index, generation in enumerate(listed["generations"]):
        assert generation["model"] == generation["model_name"] == "Qwen/Qwen-Image"
        assert generation["status"] == "queued"
        assert before <= generation["enqueued_at"] <= time.time() + 1
        assert isinstance(generation["enqueued_at"], int)
        assert generation["prompt"] == "A red fox in snow"
        assert generation["seed"] == 5 + index
        assert generation["aspect_ratio"] == "1:1"
        assert generation["response_format"] == "url"
    assert oxen.status("demo-image").json() == {"count": 0, "generations": []}
    job = oxen.job(ids[1])
    assert job["status"] == "queued"
    assert job["input"]["seed"] == 6
    for generation_id in ids:
        assert oxen.cancel(generation_id).status_code == 200


def test_multi_prompt_becomes_the_prompt(idle_server: GenqServer, client: MakeOxen) -> None:
    """A multi-shot request with no prompt is queued with its shots as one prompt and keeps
    multi_prompt in the status list."""
    oxen = client(idle_server)
    shots = [{"prompt": "A door opens", "duration": 1}, {"prompt": "light pours in"}]
    [generation_id] = oxen.generation_ids({"model": KLING, "multi_prompt": shots})
    [listed] = oxen.status(KLING).json()["generations"]
    assert listed["multi_prompt"] == shots
    assert "prompt" not in listed
    assert oxen.job(generation_id)["input"]["prompt"] == "A door opens light pours in"
    assert oxen.cancel(generation_id).status_code == 200


def test_namespaces_are_isolated(idle_server: GenqServer, client: MakeOxen) -> None:
    """Another account's namespace answers 404 for the status list and cancel, and its
    generations stay untouched."""
    alice, bob = client(idle_server), client(idle_server)
    [generation_id] = alice.generation_ids({"model": "demo-image", "prompt": "private"})
    response = bob.status("demo-image", namespace=alice.namespace)
    assert response.status_code == 404
    assert response.json() == {"error": f"Namespace not found: {alice.namespace}"}
    assert bob.status("demo-image").json()["count"] == 0
    assert bob.cancel(generation_id, namespace=alice.namespace).status_code == 404
    response = bob.cancel(generation_id)
    assert response.status_code == 404
    assert response.json() == {"error": GONE}
    assert bob.status("demo-image", namespace="no-such-user").status_code == 404
    refused = bob.enqueue({"model": "demo-image", "prompt": "x", "target_namespace": "other"})
    assert refused.status_code == 404
    assert alice.status("demo-image").json()["count"] == 1
    assert alice.cancel(generation_id).status_code == 200


def test_cancel_removes_a_queued_generation(idle_server: GenqServer, client: MakeOxen) -> None:
    """DELETE cancels a queued generation: it leaves the status list, the native job is
    canceled, and a second DELETE answers 404."""
    oxen = client(idle_server)
    first, second = oxen.generation_ids(
        {"model": KLING, "prompt": "cancel me", "num_generations": 2}
    )
    response = oxen.cancel(first)
    assert response.status_code == 200
    assert response.json() == {"generation_id": first, "status": "cancelled"}
    listed = oxen.status(KLING).json()
    assert [g["generation_id"] for g in listed["generations"]] == [second]
    assert oxen.job(first)["status"] == "canceled"
    again = oxen.cancel(first)
    assert again.status_code == 404
    assert again.json() == {"error": GONE}
    assert oxen.cancel(second).status_code == 200
    assert oxen.status(KLING).json()["count"] == 0


def test_delete_after_completion_answers_404(server: GenqServer, client: MakeOxen) -> None:
    """DELETE of a finished or unknown generation answers 404 saying it is done or unknown."""
    oxen = client(server)
    [generation_id] = oxen.generation_ids(
        {"model": "demo-image", "prompt": "done", "width": 64, "height": 64}
    )
    oxen.poll_until_done("demo-image")
    assert oxen.job(generation_id)["status"] == "succeeded"
    response = oxen.cancel(generation_id)
    assert response.status_code == 404
    assert response.json() == {"error": GONE}
    unknown = oxen.cancel("job_000000000000000000000000")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": GONE}


@pytest.mark.parametrize("count", [0, 5, -1, "2", 2.0, True, [2]])
def test_num_generations_out_of_range(server: GenqServer, count: Any, client: MakeOxen) -> None:
    """num_generations outside 1-4, or not an integer, is a 400 with the documented error."""
    oxen = client(server, account="oxen-range")
    response = oxen.enqueue({"model": "demo-image", "prompt": "x", "num_generations": count})
    assert response.status_code == 400
    assert response.json() == {"error": RANGE_ERROR}
    assert oxen.http.get("/v1/jobs").json()["data"] == []


def test_unknown_model_is_404(server: GenqServer, client: MakeOxen) -> None:
    """An unknown model is a 404 naming it, on the queue, the status list and sync endpoints."""
    oxen = client(server)
    for path in ("/api/ai/queue", "/api/ai/images/generate", "/api/ai/videos/generate"):
        response = oxen.http.post(path, json={"model": "no-such/model", "prompt": "x"})
        assert response.status_code == 404
        assert response.json() == {"error": "Model not found: no-such/model"}
    response = oxen.status("no-such/model")
    assert response.status_code == 404
    assert response.json() == {"error": "Model not found: no-such/model"}


@pytest.mark.parametrize("model", ["noop", "demo-text", "demo-audio"])
def test_models_other_than_image_or_video_are_refused(
    server: GenqServer, model: str, client: MakeOxen
) -> None:
    """Text and audio models are refused at enqueue with ":unsupported_media_type" (400)."""
    oxen = client(server, account="oxen-media")
    response = oxen.enqueue({"model": model, "prompt": "hello"})
    assert response.status_code == 400
    assert response.json() == {"error": ":unsupported_media_type"}
    assert oxen.http.get("/v1/jobs").json()["data"] == []


def test_sync_endpoints_refuse_the_other_modality(server: GenqServer, client: MakeOxen) -> None:
    """/images/generate takes only image models and /videos/generate only video models."""
    oxen = client(server, account="oxen-media")
    for path, model in (
        ("/api/ai/images/generate", KLING),
        ("/api/ai/videos/generate", "demo-image"),
        ("/api/ai/images/generate", "noop"),
    ):
        response = oxen.http.post(path, json={"model": model, "prompt": "x"})
        assert response.status_code == 400, path
        assert response.json() == {"error": ":unsupported_media_type"}


def test_credits_are_checked_for_every_generation_at_enqueue(
    server: GenqServer, client: MakeOxen
) -> None:
    """With credits for one image, two generations are refused with 402 and none is left
    queued; one is accepted; two more are refused."""
    oxen = client(server, credits="0.003")
    body = {"model": "demo-image", "prompt": "paid", "width": 64, "height": 64}
    refused = oxen.enqueue({**body, "num_generations": 2})
    assert refused.status_code == 402
    assert list(refused.json()) == ["error"]
    assert oxen.http.get("/v1/jobs").json()["data"] == []
    assert oxen.status("demo-image").json()["count"] == 0
    [generation_id] = oxen.generation_ids(body)
    again = oxen.enqueue({**body, "num_generations": 2})
    assert again.status_code == 402
    [job] = oxen.http.get("/v1/jobs").json()["data"]
    assert job["id"] == generation_id


def test_errors_use_the_dialect_shape(server: GenqServer, client: MakeOxen) -> None:
    """A missing key, a body that is not JSON and an invalid input answer {"error": ...}."""
    response = httpx.post(f"{server.url}/api/ai/queue", json={"model": "demo-image"})
    assert response.status_code == 401
    assert list(response.json()) == ["error"]
    oxen = client(server)
    broken = oxen.http.post("/api/ai/queue", content=b"{not json")
    assert broken.status_code == 400
    assert list(broken.json()) == ["error"]
    no_prompt = oxen.enqueue({"model": "demo-image"})
    assert no_prompt.status_code == 422
    assert "prompt" in no_prompt.json()["error"]
    no_model = oxen.enqueue({"prompt": "x"})
    assert no_model.status_code == 400


def test_sync_image_generation(server: GenqServer, client: MakeOxen) -> None:
    """POST /api/ai/images/generate answers once the images exist, with their links."""
    oxen = client(server)
    response = oxen.http.post(
        "/api/ai/images/generate",
        json={"model": "demo-image", "prompt": "A blue sphere", "width": 96, "height": 64},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    [image] = body["images"]
    assert image["content_type"] == "image/png"
    assert (image["width"], image["height"]) == (96, 64)
    assert body["image_url"] == image["url"]
    check_png(image["url"], (96, 64))
    assert oxen.job(body["generation_id"])["status"] == "succeeded"


def test_sync_video_generation(server: GenqServer, client: MakeOxen) -> None:
    """POST /api/ai/videos/generate answers once the video exists, with its link."""
    oxen = client(server)
    response = oxen.http.post(
        "/api/ai/videos/generate",
        json={"model": KLING, "prompt": "Waves on a shore", "duration": 2},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    [video] = body["videos"]
    assert video["content_type"] == "video/mp4"
    assert video["duration"] == pytest.approx(2, abs=0.2)
    assert body["video_url"] == video["url"]
    check_mp4(video["url"])


def test_sync_generation_that_outlasts_the_timeout_answers_504(
    idle_server: GenqServer, client: MakeOxen
) -> None:
    """A sync request whose job has not finished by the sync timeout answers 504 with the
    generation id, and the job goes on."""
    oxen = client(idle_server)
    response = oxen.http.post(
        "/api/ai/images/generate", json={"model": "demo-image", "prompt": "slow"}
    )
    assert response.status_code == 504
    body = response.json()
    assert body["status"] == "queued"
    assert oxen.job(body["generation_id"])["status"] == "queued"
    assert oxen.cancel(body["generation_id"]).status_code == 200


def test_sync_request_whose_client_leaves_cancels_its_job(
    idle_server: GenqServer, client: MakeOxen
) -> None:
    """A sync request whose client disconnects cancels its job: nobody would collect it."""
    oxen = client(idle_server)
    with pytest.raises(httpx.ReadTimeout):
        oxen.http.post(
            "/api/ai/videos/generate", json={"model": KLING, "prompt": "gone"}, timeout=1
        )

    def canceled() -> bool:
        jobs = oxen.http.get("/v1/jobs").json()["data"]
        return len(jobs) == 1 and jobs[0]["status"] == "canceled"

    wait_until(canceled, timeout=30, interval=0.5)


def test_retention_ends_a_finished_generation(make_server: Any, client: MakeOxen) -> None:
    """With a short Oxen retention, a finished generation is a 404 in the native API once
    its retention has passed."""
    server = make_server(toml="[dialects.oxen]\nretention_seconds = 3\n")
    oxen = client(server)
    # A native job first, so that a worker is warm before the short-lived generation starts.
    warm = oxen.http.post("/v1/jobs", json={"model": "demo-image", "input": {"prompt": "w"}})
    wait_for(oxen.http, warm.json()["id"])
    [generation_id] = oxen.generation_ids(
        {"model": "demo-image", "prompt": "brief", "width": 64, "height": 64}
    )
    job = wait_for(oxen.http, generation_id)
    assert job["status"] == "succeeded"
    wait_until(
        lambda: oxen.http.get(f"/v1/jobs/{generation_id}").status_code == 404,
        timeout=60,
        interval=0.5,
    )
    assert oxen.status("demo-image").json()["count"] == 0
    assert oxen.http.get(f"/v1/jobs/{warm.json()['id']}").status_code == 200
