"""RunPod's serverless endpoint routes, in-process: their answers' shapes, the statuses a job
goes through (TIMED_OUT and CANCELLED included), the policy's mapping onto genq's time limits
and priority, the stream's positions, health counts, purges, and refusals. Jobs are moved by
the store's own worker calls (claim, events, finish), so that each state is reached exactly."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from genq.http.dialects.runpod.routes import webhook_body
from genq.http.links import Links
from genq.jobs import Claim, EventType, Failure, JobRecord, OutputRecord, Status, WebhookEvent
from genq.keys import create_key
from genq.server import build_app
from genq.service import MAX_TEXT_BYTES, JobService
from genq.settings import Settings

BASE = "/runpod/v2"
LEASE = 30.0


@dataclass
class RunPod:
    """An in-process genq without workers, its service, and a key of an account."""

    client: TestClient
    service: JobService
    key: str
    account_id: str
    tmp: Path

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        response = self.client.request(method, BASE + path, headers=headers, **kwargs)
        assert response.headers["content-type"] == "application/json", response.text
        return response

    def run(self, endpoint: str, body: dict[str, Any], route: str = "run") -> dict[str, Any]:
        response = self.call("POST", f"/{endpoint}/{route}", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def get(self, endpoint: str, route: str, job_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/{endpoint}/{route}/{job_id}")
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def job(self, job_id: str) -> JobRecord:
        job = self.service.store.get_job_any_account(job_id, time.time())
        assert job is not None
        return job

    def start(self, job_id: str, worker: str = "w1") -> Claim:
        """Claim the job as a worker would (it must be the only one queued of its model)."""
        model = self.job(job_id).model
        [claim] = self.service.store.claim(worker, [model], time.time(), LEASE)
        assert claim.job.id == job_id
        return claim

    def output(self, claim: Claim, data: bytes, content_type: str, n: int = 0) -> OutputRecord:
        """A file the claim's job made, in the result storage."""
        key = f"{claim.job.id}/{claim.attempt}/output-{n}"
        path = self.tmp / key.replace("/", "-")
        path.write_bytes(data)
        self.service.storage.put(key, path, content_type)
        return OutputRecord(key, content_type, len(data), hashlib.sha256(data).hexdigest())

    def finish(self, claim: Claim, *outputs: OutputRecord, error: Failure | None = None) -> None:
        assert self.service.store.finish(claim, time.time(), outputs=outputs, error=error)

    def other_key(self, account: str = "mallory") -> str:
        return create_key(self.service.store, account)[1]


@pytest.fixture
def make_runpod(tmp_path: Path) -> Iterator[Any]:
    """In-process apps on one database (several API processes), each with the same key."""
    clients: list[TestClient] = []
    settings = Settings.load(
        data_dir=tmp_path / "data",
        webhook_allow_http=True,
        webhook_allow_private=True,
        models={"noop": {"timeout_seconds": 60}},
        aliases={"words": {"model": "demo-text"}},
    )
    keys: list[tuple[str, str]] = []

    def make() -> RunPod:
        app = build_app(settings, workers=False)
        service: JobService = app.state.service
        if not keys:
            key, raw = create_key(service.store, "default")
            keys.append((raw, key.account_id))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return RunPod(client, service, *keys[0], tmp_path)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def runpod(make_runpod: Any) -> RunPod:
    rp: RunPod = make_runpod()
    return rp


def as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


# -- a job's life ----------------------------------------------------------------------------
def test_run_then_status_through_to_completed(runpod: RunPod) -> None:
    """/run answers the id and IN_QUEUE; /status shows IN_QUEUE, IN_PROGRESS with its
    delayTime, then COMPLETED with the value the model returned as JSON and its
    executionTime, in milliseconds."""
    queued = runpod.run("noop", {"input": {}})
    assert queued == {"id": queued["id"], "status": "IN_QUEUE"}
    job_id = queued["id"]
    assert runpod.get("noop", "status", job_id) == {"id": job_id, "status": "IN_QUEUE"}

    claim = runpod.start(job_id)
    running = runpod.get("noop", "status", job_id)
    assert running["status"] == "IN_PROGRESS"
    assert set(running) == {"id", "status", "delayTime"}
    assert isinstance(running["delayTime"], int)
    assert running["delayTime"] >= 0

    value = {"images": ["a", "b"], "seed": 7, "nested": {"ok": True}}
    runpod.finish(claim, runpod.output(claim, json_bytes(value), "application/json"))
    done = runpod.get("noop", "status", job_id)
    assert done["status"] == "COMPLETED"
    assert done["output"] == value
    assert set(done) == {"id", "status", "delayTime", "executionTime", "output"}
    assert isinstance(done["executionTime"], int)
    assert done["executionTime"] >= 0


def test_outputs_text_files_and_large_json(runpod: RunPod) -> None:
    """A text output is its text; one file is its URL as a string, several a list of URLs;
    a JSON output past MAX_TEXT_BYTES is its URL; a job without outputs has a null output."""
    cases: list[tuple[list[tuple[bytes, str]], Any]] = [
        ([(b"once upon a time", "text/plain; charset=utf-8")], "once upon a time"),
        ([(b"\x89PNG...", "image/png")], str),
        ([(b"\x89PNG...", "image/png"), (b"\x89PNG!", "image/png")], list),
        ([(json_bytes("x" * MAX_TEXT_BYTES), "application/json")], str),
        ([], None),
    ]
    for files, expected in cases:
        job_id = runpod.run("noop", {"input": {}})["id"]
        claim = runpod.start(job_id)
        outputs = [runpod.output(claim, data, kind, n) for n, (data, kind) in enumerate(files)]
        runpod.finish(claim, *outputs)
        output = runpod.get("noop", "status", job_id)["output"]
        if isinstance(expected, type):
            urls = as_list(output)
            assert type(output) is expected, output
            assert len(urls) == len(files)
            for url, (data, _) in zip(urls, files, strict=True):
                assert url.startswith("http://testserver/files/")
                assert runpod.client.get(url).content == data
        else:
            assert output == expected


def test_failed_and_timed_out_jobs(runpod: RunPod) -> None:
    """A failure is FAILED with its error message; a job stopped at its executionTimeout, or
    expired at its ttl before any worker took it, is TIMED_OUT with its error."""
    failed = runpod.run("noop", {"input": {}})["id"]
    runpod.finish(runpod.start(failed), error=Failure("model_error", "out of paint"))
    body = runpod.get("noop", "status", failed)
    assert body["status"] == "FAILED"
    assert body["error"] == "out of paint"
    assert "output" not in body

    slow = runpod.run("noop", {"input": {}, "policy": {"executionTimeout": 5000}})["id"]
    claim = runpod.start(slow)
    assert claim.job.started_at is not None
    assert runpod.service.store.time_out(slow, claim.job.started_at + 5.5) is not None
    body = runpod.get("noop", "status", slow)
    assert body["status"] == "TIMED_OUT"
    assert "5 seconds" in body["error"]

    waiting = runpod.run("noop", {"input": {}, "policy": {"ttl": 10_000}})["id"]
    [expired] = runpod.service.store.expire_start_deadlines(time.time() + 10.5)
    assert expired.id == waiting
    body = runpod.get("noop", "status", waiting)
    assert body["status"] == "TIMED_OUT"
    assert "start deadline" in body["error"]
    assert "delayTime" not in body


def test_cancel_queued_running_and_ended_jobs(runpod: RunPod) -> None:
    """A queued job is CANCELLED at once; a running one answers CANCELLED, is asked to stop
    and shows IN_PROGRESS until its worker stops it; a completed one answers COMPLETED."""
    queued = runpod.run("noop", {"input": {}})["id"]
    answer = runpod.call("POST", f"/noop/cancel/{queued}")
    assert answer.status_code == 200
    assert answer.json() == {"id": queued, "status": "CANCELLED"}
    assert runpod.get("noop", "status", queued)["status"] == "CANCELLED"

    running = runpod.run("noop", {"input": {}})["id"]
    claim = runpod.start(running)
    assert runpod.call("POST", f"/noop/cancel/{running}").json()["status"] == "CANCELLED"
    assert runpod.job(running).cancel_requested
    assert runpod.get("noop", "status", running)["status"] == "IN_PROGRESS"
    assert runpod.service.store.finish(claim, time.time(), canceled=True)
    assert runpod.get("noop", "status", running)["status"] == "CANCELLED"

    done = runpod.run("noop", {"input": {}})["id"]
    runpod.finish(runpod.start(done))
    assert runpod.call("POST", f"/noop/cancel/{done}").json() == {
        "id": done,
        "status": "COMPLETED",
    }
    assert runpod.job(done).status is Status.SUCCEEDED


def test_runsync_answers_the_end_or_the_status_so_far(runpod: RunPod) -> None:
    """/runsync answers the whole status with the output once the job ends within its
    wait; past ``?wait`` it answers the job still IN_QUEUE, to be followed by its id."""
    pending = runpod.call("POST", "/noop/runsync?wait=1000", json={"input": {}})
    assert pending.status_code == 200
    body = pending.json()
    assert body == {"id": body["id"], "status": "IN_QUEUE"}
    runpod.call("POST", f"/noop/cancel/{body['id']}")

    def work() -> None:
        # A worker takes the job a moment after the submit and returns a value.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            claims = runpod.service.store.claim("w1", ["noop"], time.time(), LEASE)
            if claims:
                [claim] = claims
                result = runpod.output(claim, b'{"answer": 42}', "application/json")
                runpod.finish(claim, result)
                return
            time.sleep(0.05)

    worker = threading.Thread(target=work)
    worker.start()
    answered = runpod.call("POST", "/noop/runsync", json={"input": {}})
    worker.join()
    body = answered.json()
    assert body["status"] == "COMPLETED"
    assert body["output"] == {"answer": 42}
    assert {"id", "delayTime", "executionTime"} <= set(body)


# -- the policy --------------------------------------------------------------------------------
def test_policy_maps_onto_timeout_start_deadline_and_priority(runpod: RunPod) -> None:
    """executionTimeout (ms) is the job's timeout in seconds; a ttl shorter than the job's
    retention is its start deadline from submit; one at least as long sets none; lowPriority
    queues it at priority -1; the webhook is kept, called on completion."""
    policy = {"executionTimeout": 2500, "ttl": 60_000, "lowPriority": True}
    body = {"input": {}, "policy": policy, "webhook": "http://127.0.0.1:9/hook"}
    job = runpod.job(runpod.run("noop", body)["id"])
    assert job.timeout_seconds == 2.5
    assert job.start_deadline is not None
    assert job.start_deadline - job.created_at == pytest.approx(60, abs=0.01)
    assert job.priority == -1
    assert job.webhook == "http://127.0.0.1:9/hook"
    assert job.webhook_events == (WebhookEvent.COMPLETED,)
    assert job.origin is not None
    assert job.origin.request == body

    plain = runpod.job(runpod.run("noop", {"input": {}, "policy": {"ttl": 86_400_000}})["id"])
    assert plain.start_deadline is None
    assert plain.priority == 0
    assert plain.timeout_seconds == 60  # the model's own


def test_invalid_requests_answer_400_naming_the_field(runpod: RunPod) -> None:
    """A body without an object input, a policy that is not an object (an empty list or
    string too), a policy value of the wrong kind, a ttl under a second (named as the
    caller sent it), an executionTimeout past the model's limit, a webhook that is not a URL,
    a ``?wait`` out of RunPod's range and a body that is not JSON each answer 400 ``{"error",
    "code"}``; no job is made."""
    cases: list[tuple[str, Any, str]] = [
        ("run", {"prompt": "x"}, "input: required"),
        ("run", {"input": "x"}, "input must be a JSON object"),
        ("run", [1], "body must be a JSON object"),
        ("run", {"input": {}, "policy": {"ttl": -1}}, "policy/ttl"),
        ("run", {"input": {}, "policy": {"executionTimeout": "9"}}, "policy/executionTimeout"),
        ("run", {"input": {}, "policy": {"executionTimeout": 61_000}}, "60000 ms"),
        ("run", {"input": {}, "policy": {"lowPriority": "yes"}}, "policy/lowPriority"),
        ("run", {"input": {}, "policy": 3}, "policy must be a JSON object"),
        ("run", {"input": {}, "policy": []}, "policy must be a JSON object"),
        ("run", {"input": {}, "policy": 0}, "policy must be a JSON object"),
        ("run", {"input": {}, "policy": ""}, "policy must be a JSON object"),
        ("run", {"input": {}, "policy": {"ttl": 0.0001}}, "policy/ttl"),
        ("run", {"input": {}, "policy": {"ttl": 999}}, "policy/ttl"),
        ("run", {"input": {}, "webhook": 5}, "webhook"),
        ("run", {"input": {"sleep_ms": "long"}}, "sleep_ms"),
        ("runsync?wait=10", {"input": {}}, "wait"),
    ]
    for route, body, said in cases:
        answer = runpod.call("POST", f"/noop/{route}", json=body)
        assert answer.status_code == 400, (body, answer.text)
        error = answer.json()
        assert set(error) == {"error", "code"}
        assert said in error["error"], (said, error)
    broken = runpod.call("POST", "/noop/run", content=b"{")
    assert broken.status_code == 400
    assert runpod.service.store.count_jobs(runpod.account_id, time.time()) == 0


def test_unknown_endpoints_keys_and_jobs(runpod: RunPod) -> None:
    """An unknown endpoint is a 404, a bad key a 401; another account's job, a job of
    another endpoint and a job of the native API are 404 on every job route."""
    assert runpod.call("POST", "/nosuch/run", json={"input": {}}).status_code == 404
    assert runpod.call("GET", "/nosuch/health").status_code == 404
    unauthorized = runpod.call("GET", "/noop/health", key="wrong")
    assert unauthorized.status_code == 401
    assert set(unauthorized.json()) == {"error", "code"}

    job_id = runpod.run("noop", {"input": {}})["id"]
    native = runpod.client.post(
        "/v1/jobs",
        headers={"Authorization": f"Bearer {runpod.key}"},
        json={"model": "noop", "input": {}},
    ).json()["id"]
    other = runpod.other_key()
    for route, method in [
        ("status", "GET"),
        ("stream", "GET"),
        ("cancel", "POST"),
        ("retry", "POST"),
    ]:
        for endpoint, job, key in [
            ("noop", job_id, other),
            ("demo-text", job_id, None),
            ("noop", native, None),
            ("noop", "job_nosuch", None),
        ]:
            answer = runpod.call(method, f"/{endpoint}/{route}/{job}", key=key)
            assert answer.status_code == 404, (route, endpoint, job)
            assert answer.json()["code"] == "job_not_found"
    assert not runpod.job(job_id).cancel_requested


def test_an_alias_is_an_endpoint_of_its_own(runpod: RunPod) -> None:
    """An alias is an endpoint id: its jobs run its model and are found through the alias
    only; its input passes to the model as given."""
    job_id = runpod.run("words", {"input": {"prompt": "the sea", "max_tokens": 3}})["id"]
    job = runpod.job(job_id)
    assert job.model == "demo-text"
    assert job.input["max_tokens"] == 3
    assert runpod.get("words", "status", job_id)["status"] == "IN_QUEUE"
    assert runpod.call("GET", f"/demo-text/status/{job_id}").status_code == 404


# -- the stream --------------------------------------------------------------------------------
def stream(runpod: RunPod, job_id: str, endpoint: str = "words") -> tuple[str, list[Any]]:
    body = runpod.get(endpoint, "stream", job_id)
    assert set(body) == {"id", "status", "stream"}
    return body["status"], [item["output"] for item in body["stream"]]


def test_stream_hands_out_each_piece_once(runpod: RunPod) -> None:
    """Each call hands out the text pieces and streamed values new since the last one, in
    order, as ``{"output"}`` items; once the job ended, the last pieces come with the final
    status, and then an empty list: the client's sign to stop."""
    job_id = runpod.run("words", {"input": {"prompt": "x"}})["id"]
    assert stream(runpod, job_id) == ("IN_QUEUE", [])
    claim = runpod.start(job_id)
    add = runpod.service.store.add_event
    add(claim, EventType.TEXT, {"delta": "The"}, time.time())
    add(claim, EventType.PROGRESS, {"step": 1, "total": 3}, time.time())
    add(claim, EventType.TEXT, {"delta": " sea"}, time.time())
    assert stream(runpod, job_id) == ("IN_PROGRESS", ["The", " sea"])
    assert stream(runpod, job_id) == ("IN_PROGRESS", [])
    add(claim, EventType.PARTIAL, {"value": {"tokens": 2}}, time.time())
    add(claim, EventType.TEXT, {"delta": " rolls."}, time.time())
    runpod.finish(claim, runpod.output(claim, b"The sea rolls.", "text/plain"))
    assert stream(runpod, job_id) == ("COMPLETED", [{"tokens": 2}, " rolls."])
    assert stream(runpod, job_id) == ("COMPLETED", [])
    assert runpod.get("words", "status", job_id)["output"] == "The sea rolls."


def test_stream_positions_are_shared_by_api_processes(make_runpod: Any) -> None:
    """Two API processes on one database, asked in turn (or at once), hand out every piece
    once between them: none repeated, none lost."""
    first: RunPod = make_runpod()
    second: RunPod = make_runpod()
    job_id = first.run("words", {"input": {"prompt": "x"}})["id"]
    claim = first.start(job_id)
    got: list[Any] = []
    for n in range(30):
        first.service.store.add_event(claim, EventType.TEXT, {"delta": str(n)}, time.time())
        if n % 4 == 0:
            got += stream(first if n % 8 else second, job_id)[1]
    first.finish(claim)

    def drain(api: RunPod, into: list[Any]) -> None:
        while True:
            status, pieces = stream(api, job_id)
            into.extend(pieces)
            if status == "COMPLETED" and not pieces:
                return

    rest: list[list[Any]] = [[], []]
    threads = [
        threading.Thread(target=drain, args=(api, into))
        for api, into in zip((first, second), rest, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(p) for p in got + rest[0] + rest[1]) == list(range(30))


# -- the endpoint --------------------------------------------------------------------------------
def test_health_counts_the_endpoints_jobs_and_workers(runpod: RunPod) -> None:
    """health counts the caller's jobs of this endpoint by status (TIMED_OUT among the
    failed, jobs run twice as retried) and the live workers serving the model, busy ones as
    running; other endpoints' and other accounts' jobs do not count."""
    store = runpod.service.store
    now = time.time()
    store.register_worker("w1", ["noop"], "host", 1, now)
    store.register_worker("w2", ["noop", "demo-text"], "host", 2, now)
    store.register_worker("w3", ["demo-text"], "host", 3, now)
    done = runpod.run("noop", {"input": {}})["id"]
    runpod.finish(runpod.start(done))
    failed = runpod.run("noop", {"input": {}})["id"]
    runpod.finish(runpod.start(failed), error=Failure("model_error", "no"))
    late = runpod.run("noop", {"input": {}, "policy": {"ttl": 10_000}})["id"]
    assert [j.id for j in store.expire_start_deadlines(time.time() + 11)] == [late]
    again = runpod.run("noop", {"input": {}})["id"]
    claim = runpod.start(again)
    store.retry_later(claim, time.time(), run_after=time.time(), event={"status": "queued"})
    runpod.start(again, worker="w2")
    runpod.run("noop", {"input": {}})
    runpod.run("words", {"input": {"prompt": "x"}})
    other = runpod.other_key()
    runpod.call("POST", "/noop/run", key=other, json={"input": {}})

    answer = runpod.call("GET", "/noop/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "jobs": {"completed": 1, "failed": 2, "inProgress": 1, "inQueue": 1, "retried": 1},
        "workers": {"idle": 1, "running": 1},
    }


def test_purge_queue_cancels_only_the_endpoints_queued_jobs(runpod: RunPod) -> None:
    """purge-queue cancels the caller's queued jobs of this endpoint and answers how many;
    its running job, its other endpoints' jobs, native jobs of the same model and another
    account's jobs stay as they were."""
    running = runpod.run("noop", {"input": {}})["id"]
    runpod.start(running)
    queued = [runpod.run("noop", {"input": {}})["id"] for _ in range(3)]
    words = runpod.run("words", {"input": {"prompt": "x"}})["id"]
    native = runpod.client.post(
        "/v1/jobs",
        headers={"Authorization": f"Bearer {runpod.key}"},
        json={"model": "noop", "input": {}},
    ).json()["id"]
    theirs = runpod.call("POST", "/noop/run", key=runpod.other_key(), json={"input": {}})

    answer = runpod.call("POST", "/noop/purge-queue")
    assert answer.status_code == 200
    assert answer.json() == {"removed": 3, "status": "completed"}
    assert [runpod.job(j).status for j in queued] == [Status.CANCELED] * 3
    assert runpod.job(running).status is Status.RUNNING
    assert not runpod.job(running).cancel_requested
    for job_id in (words, native, theirs.json()["id"]):
        assert runpod.job(job_id).status is Status.QUEUED
    assert runpod.call("POST", "/noop/purge-queue").json()["removed"] == 0


def test_retry_runs_an_ended_job_again_under_a_new_id(runpod: RunPod) -> None:
    """retry makes a new queued job of the same endpoint and input from a failed one; a
    completed job answers 409."""
    done = runpod.run("noop", {"input": {}})["id"]
    runpod.finish(runpod.start(done))
    refused = runpod.call("POST", f"/noop/retry/{done}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_retryable"

    failed = runpod.run("noop", {"input": {"sleep_ms": 1}, "policy": {"executionTimeout": 9000}})
    runpod.finish(runpod.start(failed["id"]), error=Failure("model_error", "no"))
    answer = runpod.call("POST", f"/noop/retry/{failed['id']}")
    assert answer.status_code == 200
    again = answer.json()
    assert again["status"] == "IN_QUEUE"
    assert again["id"] != failed["id"]
    job = runpod.job(again["id"])
    assert job.input["sleep_ms"] == 1
    assert job.timeout_seconds == 9
    assert runpod.get("noop", "status", again["id"])["status"] == "IN_QUEUE"


def test_a_webhook_receives_the_status_body(runpod: RunPod) -> None:
    """The body of a webhook set through /run is the job's status, as /status answers it."""
    job_id = runpod.run("noop", {"input": {}, "webhook": "http://127.0.0.1:9/hook"})["id"]
    claim = runpod.start(job_id)
    runpod.finish(claim, runpod.output(claim, b"[1, 2]", "application/json"))
    service = runpod.service
    links = Links(service.storage, "http://testserver", service.link_expiry)
    job = runpod.job(job_id)
    body = asyncio.run(webhook_body(service, job, WebhookEvent.COMPLETED, "x", links))
    assert body == runpod.get("noop", "status", job_id)
    assert body["output"] == [1, 2]
