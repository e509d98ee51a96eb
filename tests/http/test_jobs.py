"""The native job routes, through real HTTP against a real ``genq serve``."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

import httpx
import pytest

from tests.conftest import GenqServer, wait_for


def submit(api: httpx.Client, input: dict | None = None, **body: object) -> dict:
    response = api.post("/v1/jobs", json={"model": "noop", "input": input or {}, **body})
    assert response.status_code == 202, response.text
    return response.json()


def test_submit_answers_202_with_the_queued_job(api: httpx.Client) -> None:
    """POST /v1/jobs answers 202 with the job's id, status, links and cost estimate."""
    job = submit(api, {"sleep_ms": 50}, metadata={"order": 7})
    assert job["id"].startswith("job_")
    assert job["status"] == "queued"
    assert job["urls"]["self"].endswith(f"/v1/jobs/{job['id']}")
    assert job["urls"]["events"].endswith(f"/v1/jobs/{job['id']}/events")
    assert job["urls"]["cancel"].endswith(f"/v1/jobs/{job['id']}/cancel")
    assert job["cost"] == {"estimate": 0.0001, "actual": None}
    assert job["metadata"] == {"order": 7}
    assert job["input"]["steps"] == 0  # defaults filled in


def test_get_returns_the_whole_finished_job(api: httpx.Client) -> None:
    """GET /v1/jobs/{id} returns every documented field of a finished job."""
    job = submit(api, {"steps": 4, "sleep_ms": 40, "output_text": "hello"})
    done = wait_for(api, job["id"])
    assert done["status"] == "succeeded"
    assert done["progress"] == {"step": 4, "total": 4, "fraction": 1.0, "message": None}
    assert done["error"] is None
    assert done["cost"]["actual"] == done["cost"]["estimate"]
    assert done["attempts"] == 1
    assert done["metrics"]["inference_time"] >= 0.04
    assert done["metrics"]["queue_time"] >= 0
    # A number only for the job that made its worker load the model (tests/worker).
    assert done["metrics"]["load_time"] is None or done["metrics"]["load_time"] >= 0
    for field in ("created_at", "started_at", "finished_at", "expires_at"):
        assert done[field].endswith("Z")
    [output] = done["outputs"]
    assert output["content_type"].startswith("text/plain")
    assert output["size"] == 5
    assert httpx.get(output["url"]).content == b"hello"


def test_wait_holds_until_the_job_is_terminal(api: httpx.Client) -> None:
    """?wait=N answers as soon as the job ends, not after N seconds."""
    job = submit(api, {"sleep_ms": 300})
    started = time.monotonic()
    done = api.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
    assert done["status"] == "succeeded"
    # Well before the 30 s: however busy the machine, the job itself takes 0.3 s.
    assert time.monotonic() - started < 20


def test_wait_answers_with_the_job_as_it_is_after_the_timeout(api: httpx.Client) -> None:
    """?wait=N on a job that outlasts N answers after N seconds with a live status, long
    before the job would end."""
    job = submit(api, {"sleep_ms": 60_000})
    started = time.monotonic()
    seen = api.get(f"/v1/jobs/{job['id']}", params={"wait": 0.5}).json()
    elapsed = time.monotonic() - started
    assert seen["status"] in ("queued", "running")
    # Not before the timeout; the upper bound only has to stay clear of the job's minute.
    assert 0.5 <= elapsed < 30
    api.post(f"/v1/jobs/{job['id']}/cancel")


def test_wait_above_60_is_rejected(api: httpx.Client) -> None:
    """?wait over 60 seconds answers 422 with the field path."""
    job = submit(api)
    response = api.get(f"/v1/jobs/{job['id']}", params={"wait": 61})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["details"][0]["path"] == "query/wait"


def test_failed_job_reports_the_model_error(api: httpx.Client) -> None:
    """A model that raises ends the job failed with code model_error and its message."""
    job = submit(api, {"fail": "out of paint"})
    done = wait_for(api, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == {"code": "model_error", "message": "out of paint"}
    assert done["cost"]["actual"] == 0


# On PostgreSQL the claim order is checked by test_claim_takes_highest_priority_then_oldest
# in tests/store/test_store_contract.py.
@pytest.mark.backends("sqlite")
def test_higher_priority_runs_first(make_server) -> None:
    """With one worker busy, a later high-priority job runs before earlier normal ones."""
    server: GenqServer = make_server(workers=1)
    with server.client() as api:
        blocker = submit(api, {"sleep_ms": 800})
        low = [submit(api, {"sleep_ms": 10}) for _ in range(3)]
        high = submit(api, {"sleep_ms": 10}, priority=5)
        finished = {j["id"]: wait_for(api, j["id"])["finished_at"] for j in [blocker, *low, high]}
    assert finished[high["id"]] < min(finished[j["id"]] for j in low)
    assert [finished[j["id"]] for j in low] == sorted(finished[j["id"]] for j in low)


def test_list_is_newest_first_with_a_stable_cursor(server: GenqServer) -> None:
    """GET /v1/jobs pages newest first; jobs inserted between pages do not shift them."""
    key = server.new_key(f"lister-{uuid.uuid4().hex[:6]}")
    with server.client(key) as api:
        ids = [submit(api, metadata={"i": i})["id"] for i in range(7)]
        first = api.get("/v1/jobs", params={"limit": 3}).json()
        assert [j["id"] for j in first["data"]] == ids[::-1][:3]
        submit(api)  # a concurrent insert must not shift the next pages
        seen = [j["id"] for j in first["data"]]
        cursor = first["next_cursor"]
        while cursor:
            page = api.get("/v1/jobs", params={"limit": 3, "cursor": cursor}).json()
            seen += [j["id"] for j in page["data"]]
            cursor = page["next_cursor"]
        assert seen == ids[::-1]


def test_list_filters_by_status_and_model(server: GenqServer) -> None:
    """GET /v1/jobs?status=&model= returns only matching jobs."""
    key = server.new_key(f"filter-{uuid.uuid4().hex[:6]}")
    with server.client(key) as api:
        ok = submit(api)
        bad = submit(api, {"fail": "no"})
        wait_for(api, ok["id"])
        wait_for(api, bad["id"])
        failed = api.get("/v1/jobs", params={"status": "failed"}).json()["data"]
        assert [j["id"] for j in failed] == [bad["id"]]
        assert api.get("/v1/jobs", params={"model": "demo-image"}).json()["data"] == []
        assert len(api.get("/v1/jobs", params={"model": "noop"}).json()["data"]) == 2
        response = api.get("/v1/jobs", params={"status": "sleeping"})
        assert response.status_code == 422
        assert api.get("/v1/jobs", params={"cursor": "garbage!"}).status_code == 422


def test_events_stream_every_change_and_end_after_the_terminal_one(api: httpx.Client) -> None:
    """The SSE stream sends status, progress and output events, then ends."""
    job = submit(api, {"steps": 3, "sleep_ms": 150, "output_text": "x"})
    events = read_events(api, job["id"])
    kinds = [(e["event"], e["data"].get("status")) for e in events]
    assert kinds[0] == ("status", "queued")
    assert ("status", "running") in kinds
    assert [e["data"]["step"] for e in events if e["event"] == "progress"] == [1, 2, 3]
    [output] = [e for e in events if e["event"] == "output"]
    assert httpx.get(output["data"]["url"]).content == b"x"
    assert kinds[-1] == ("status", "succeeded")
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)


def test_events_resume_after_last_event_id(api: httpx.Client) -> None:
    """A reconnect with Last-Event-ID gets only the events after it."""
    job = submit(api, {"steps": 2, "sleep_ms": 50})
    events = read_events(api, job["id"])
    resumed = read_events(api, job["id"], last_event_id=events[1]["id"])
    assert [e["id"] for e in resumed] == [e["id"] for e in events[2:]]
    bad = api.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 422


def test_events_follow_a_job_live(api: httpx.Client) -> None:
    """A follower connected before the job runs sees its progress as it happens."""
    job = submit(api, {"steps": 5, "sleep_ms": 1000})
    arrivals: list[float] = []
    with api.stream("GET", f"/v1/jobs/{job['id']}/events") as response:
        for line in response.iter_lines():
            if line.startswith("event: progress"):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    # Live, not delivered in one batch at the end: about 200 ms apart.
    assert arrivals[-1] - arrivals[0] > 0.5


def test_delete_removes_the_job_and_its_files(api: httpx.Client) -> None:
    """DELETE answers with the deletion; then the job and its file links answer 404."""
    job = submit(api, {"output_text": "bytes"})
    done = wait_for(api, job["id"])
    url = done["outputs"][0]["url"]
    assert httpx.get(url).status_code == 200
    response = api.delete(f"/v1/jobs/{job['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": job["id"], "object": "job", "deleted": True}
    assert api.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert httpx.get(url).status_code == 404
    again = api.delete(f"/v1/jobs/{job['id']}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "job_not_found"


# On PostgreSQL: a delete is announced as a cancel (tests/store/test_announcements.py), and
# a cancel reaches a worker in another process (tests/acceptance/test_scale_out.py).
@pytest.mark.backends("sqlite")
def test_delete_stops_a_running_job(make_server) -> None:
    """Deleting a running job stops its model at once: the only worker starts the next job
    within seconds, long before the job would end or a lease heartbeat would notice."""
    # A heartbeat every 200 s: within this test only the stop request can free the worker.
    server: GenqServer = make_server(workers=1, lease_seconds=600)
    with server.client() as api:
        job = submit(api, {"steps": 2000, "sleep_ms": 40_000})
        assert wait_status(api, job["id"], "running")
        deleted_at = time.time()
        assert api.delete(f"/v1/jobs/{job['id']}").status_code == 200
        quick = submit(api, {"sleep_ms": 1})
        done = wait_for(api, quick["id"], timeout=60)
    assert done["status"] == "succeeded"
    assert timestamp(done["started_at"]) - deleted_at < 10


def test_models_are_listed_and_described(api: httpx.Client) -> None:
    """GET /v1/models lists every demo model with schema and price; one model by name."""
    models = api.get("/v1/models").json()["data"]
    names = {m["name"] for m in models}
    assert {"noop", "demo-image", "demo-video", "demo-speech"} <= names
    noop = api.get("/v1/models/noop").json()
    assert noop["modality"] == "text"
    assert noop["input_schema"]["properties"]["sleep_ms"]["default"] == 0
    assert noop["price"]["per_job"] == 0.0001
    missing = api.get("/v1/models/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_health_and_docs(server: GenqServer) -> None:
    """/healthz answers 200 and /docs serves the OpenAPI page for every native and dialect route."""
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    assert "swagger" in httpx.get(f"{server.url}/docs").text.lower()
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    paths = schema["paths"]
    assert paths["/v1/jobs"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    for path in (
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/cancel",
        "/v1/models",
        "/v1/models/{name}",
    ):
        assert path in paths
    # The vendor dialects are documented beside the native routes, with the same keys.
    for path, method in (
        ("/v2/{model}", "post"),
        ("/api/v1/tasks", "post"),
        ("/api/ai/queue", "post"),
        ("/v1/generation", "post"),
        ("/v1/netmind-image-job", "post"),
    ):
        assert paths[path][method]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in paths["/healthz"]["get"]


def test_concurrent_submits_with_one_key_make_one_job(server: GenqServer) -> None:
    """50 concurrent submits with the same Idempotency-Key create exactly one job."""
    key = server.new_key(f"idem-{uuid.uuid4().hex[:6]}")
    idem = uuid.uuid4().hex
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with server.client(key) as api:
            response = api.post(
                "/v1/jobs",
                json={"model": "noop", "input": {"sleep_ms": 10}},
                headers={"Idempotency-Key": idem},
            )
        with lock:
            results.append(response)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200] * 49 + [202]
    assert len({r.json()["id"] for r in results}) == 1
    with server.client(key) as api:
        assert len(api.get("/v1/jobs").json()["data"]) == 1


def test_idempotency_replays_and_conflicts(api: httpx.Client) -> None:
    """Same key + same body returns the original job (200); a different body answers 409."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"model": "noop", "input": {"sleep_ms": 5}}
    first = api.post("/v1/jobs", json=body, headers=headers)
    replay = api.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (202, 200)
    assert replay.json()["id"] == first.json()["id"]
    other = api.post("/v1/jobs", json={"model": "noop", "input": {"sleep_ms": 6}}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize(
    "change",
    [{"priority": 3}, {"metadata": {"order": 2}}, {"model": "demo-text"}],
    ids=["priority", "metadata", "model"],
)
def test_an_idempotency_key_reused_with_other_fields_is_a_conflict(
    api: httpx.Client, change: dict
) -> None:
    """The same Idempotency-Key and input with another priority, metadata or model answers
    409, while the unchanged body still replays the original job."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"model": "demo-image", "input": {"prompt": "x"}, "metadata": {"order": 1}}
    first = api.post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == 202, first.text
    other = api.post("/v1/jobs", json={**body, **change}, headers=headers)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_conflict"
    replay = api.post("/v1/jobs", json=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]


@pytest.mark.backends("sqlite")
def test_a_queued_job_shows_its_place_in_the_queue(make_server) -> None:
    """A queued job's queue_position counts the queued jobs of its model that run before it
    (a higher priority first, then the older ones); other models and jobs that left the
    queue do not count, and a job out of the queue has no position."""
    server: GenqServer = make_server(workers=0)
    with server.client() as api:
        ids = [submit(api, metadata={"i": i})["id"] for i in range(3)]
        urgent = submit(api, priority=5)["id"]
        image = submit(api, {"prompt": "x"}, model="demo-image")["id"]

        def positions(*job_ids: str) -> list[int]:
            jobs = [api.get(f"/v1/jobs/{job_id}").json() for job_id in job_ids]
            return [job["queue_position"] for job in jobs]

        assert positions(*ids, urgent, image) == [1, 2, 3, 0, 0]
        assert api.post(f"/v1/jobs/{ids[0]}/cancel").json()["status"] == "canceled"
        assert positions(*ids[1:], urgent, image) == [1, 2, 0, 0]
        assert "queue_position" not in api.get(f"/v1/jobs/{ids[0]}").json()


@pytest.mark.backends("sqlite")
def test_progress_is_stored_at_most_once_per_interval(make_server) -> None:
    """With progress_interval_seconds = 30, a job of 50 steps in about a second stores its
    first step and its last, not the 48 between."""
    server: GenqServer = make_server(workers=1, progress_interval_seconds=30)
    with server.client() as api:
        job = submit(api, {"steps": 50, "sleep_ms": 1000})
        done = wait_for(api, job["id"])
        steps = [e["data"]["step"] for e in read_events(api, job["id"]) if e["event"] == "progress"]
    assert done["status"] == "succeeded"
    assert done["progress"]["step"] == 50
    assert steps == [1, 50]


def test_video_outputs_have_a_first_frame_thumbnail(api: httpx.Client) -> None:
    """A video output has a thumbnail link, in the job and in its output event, that fetches
    a JPEG of the video's first frame."""
    import io

    from PIL import Image

    job = submit(api, {"prompt": "tide", "duration": 1, "aspect_ratio": "16:9"}, model="demo-video")
    done = wait_for(api, job["id"])
    [output] = done["outputs"]
    [event] = [e for e in read_events(api, job["id"]) if e["event"] == "output"]
    assert "thumbnail" not in event["data"]
    for url in (output["thumbnail_url"], event["data"]["thumbnail_url"]):
        thumbnail = Image.open(io.BytesIO(httpx.get(url).content))
        assert thumbnail.format == "JPEG"
        assert (thumbnail.width, thumbnail.height) == (output["width"], output["height"])


def read_events(api: httpx.Client, job_id: str, last_event_id: str | None = None) -> list[dict]:
    import json

    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[dict] = []
    current: dict = {}
    with api.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(": ")
                current[name] = json.loads(value) if name == "data" else value
    return events


def timestamp(text: str) -> float:
    """Seconds since the epoch of one of the API's ``...Z`` times."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_status(api: httpx.Client, job_id: str, status: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(f"/v1/jobs/{job_id}").json()["status"] == status:
            return True
        time.sleep(0.02)
    return False


def test_idle_workers_are_woken_not_polled(make_server) -> None:
    """With the fallback poll set to 30 s, jobs still start and finish at once: a submit
    wakes an idle worker, and the worker's news wakes ?wait and event-stream clients."""
    server: GenqServer = make_server(poll_interval_seconds=30)
    with server.client() as api:
        time.sleep(1)  # let the workers go idle
        started = time.monotonic()
        for _ in range(5):
            job = submit(api, {"steps": 2})
            assert wait_for(api, job["id"], timeout=20)["status"] == "succeeded"
            assert read_events(api, job["id"])[-1]["data"]["status"] == "succeeded"
        assert time.monotonic() - started < 10


def test_prefer_wait_answers_the_submit_with_the_finished_job(api: httpx.Client) -> None:
    """POST with Prefer: wait=N answers once the job is terminal; a bad value answers 422."""
    body = {"model": "noop", "input": {"sleep_ms": 200, "output_text": "sync"}}
    response = api.post("/v1/jobs", json=body, headers={"Prefer": "wait=20"})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "succeeded"
    assert httpx.get(job["outputs"][0]["url"]).text == "sync"
    short = api.post(
        "/v1/jobs",
        json={"model": "noop", "input": {"sleep_ms": 3000}},
        headers={"Prefer": "respond-async, wait=0.2"},
    )
    assert short.json()["status"] in ("queued", "running")
    api.post(f"/v1/jobs/{short.json()['id']}/cancel")
    for bad in ("wait=61", "wait=soon"):
        error = api.post("/v1/jobs", json=body, headers={"Prefer": bad})
        assert error.status_code == 422
        assert error.json()["error"]["details"][0]["path"] == "header/Prefer"


def test_resuming_after_the_terminal_event_ends_at_once(api: httpx.Client) -> None:
    """A reconnect whose Last-Event-ID is the terminal event gets an empty, finished stream."""
    job = submit(api)
    events = read_events(api, job["id"])
    started = time.monotonic()
    assert read_events(api, job["id"], last_event_id=events[-1]["id"]) == []
    # A stream that did not end would hang until the client's 90 s timeout.
    assert time.monotonic() - started < 30
