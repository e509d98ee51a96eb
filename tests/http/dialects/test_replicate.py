"""Replicate's predictions API, in-process: the answers' shapes, its errors, names and versions,
listings, uploads and the webhooks a prediction sets. The server runs no workers: a test that
needs a prediction to run takes its job and ends it through the store, as a worker would."""

from __future__ import annotations

import base64
import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image
from starlette.testclient import TestClient

from genq.http.dialects.replicate.files import replaced, strings
from genq.http.dialects.replicate.predictions import STATUS_WORDS, error
from genq.jobs import EventType, Failure, OutputRecord, ProgressRecord, Status
from genq.keys import create_key
from genq.server import build_app
from genq.service import JobService
from genq.settings import Settings
from genq.store import JobStore

#: An answer of Starlette's test client.
Answer = Any
ROOT = "http://testserver/replicate"
MODELS = {"mirror": {"entrypoint": "tests.http.dialects.replicate_models:Mirror"}}


@dataclass
class Api:
    """An in-process server, its service and store, and the key of its account ``default``."""

    client: TestClient
    service: JobService
    store: JobStore
    key: str
    account_id: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> Answer:
        return self.client.get(f"/replicate{path}", headers=self.headers(key), **kwargs)

    def post(self, path: str, key: str | None = None, **kwargs: Any) -> Answer:
        headers = {**self.headers(key), **kwargs.pop("headers", {})}
        return self.client.post(f"/replicate{path}", headers=headers, **kwargs)

    def delete(self, path: str, key: str | None = None) -> Answer:
        return self.client.delete(f"/replicate{path}", headers=self.headers(key))

    def account(self, name: str) -> str:
        """The key of a new account."""
        return create_key(self.store, name)[1]

    def create(self, model: str = "genq/demo-image", key: str | None = None, **body: Any) -> Any:
        body.setdefault("input", {"prompt": "a lighthouse"})
        answer = self.post(f"/v1/models/{model}/predictions", key, json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()


def start(tmp_path: Path, **settings: Any) -> tuple[TestClient, Api]:
    app = build_app(
        Settings(data_dir=tmp_path, models=MODELS, **settings),
        workers=False,
    )
    service: JobService = app.state.service
    made, raw = create_key(service.store, "default", admin=True)
    client = TestClient(app)
    return client, Api(client, service, service.store, raw, made.account_id)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    client, made = start(tmp_path, webhook_allow_http=True, webhook_allow_private=True)
    with client:
        yield made


def take(api: Api, model: str) -> Any:
    """The job a worker would take next for ``model``: claimed, now running."""
    [claim] = api.store.claim("w-test", [model], time.time(), 30)
    return claim


def problem(answer: Answer, status: int) -> dict[str, Any]:
    """The error body, once checked to be Replicate's shape with that status."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert {"title", "detail", "status"} <= set(body)
    assert body["status"] == status
    return body


def png_bytes(width: int = 8, height: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def upload(api: Api, data: bytes, key: str | None = None, **fields: str) -> Answer:
    files = {"content": ("input.png", data, "image/png")}
    return api.post("/v1/files", key, files=files, data=fields)


# -- models and versions ------------------------------------------------------------------
def test_model_and_version_objects(api: Api) -> None:
    """A model answers with its latest version: a 64-hex id, a cog_version, and an OpenAPI
    schema whose Input is the model's own input schema in Cog's form and whose Output is a
    list of file URLs for a model that can make several."""
    model = api.get("/v1/models/genq/demo-image").json()
    assert (model["owner"], model["name"], model["visibility"]) == ("genq", "demo-image", "public")
    version = model["latest_version"]
    assert len(version["id"]) == 64
    assert int(version["id"], 16) >= 0
    assert version["cog_version"]
    assert version["created_at"].endswith("Z")
    schemas = version["openapi_schema"]["components"]["schemas"]
    inputs = schemas["Input"]
    assert inputs["required"] == ["prompt"]
    assert inputs["properties"]["steps"]["maximum"] == 50
    assert [p["x-order"] for p in inputs["properties"].values()] == list(
        range(len(inputs["properties"]))
    )
    assert not any("x-playground" in p for p in inputs["properties"].values())
    assert schemas["Output"] == {
        "type": "array",
        "items": {"type": "string", "format": "uri"},
        "title": "Output",
    }
    assert api.get("/v1/models/genq/demo-image/versions").json()["results"] == [version]
    assert api.get(f"/v1/models/genq/demo-image/versions/{version['id']}").json() == version
    missing = api.get(f"/v1/models/genq/demo-image/versions/{'0' * 64}")
    assert problem(missing, 404)["code"] == "version_not_found"


def test_output_schemas_follow_what_the_model_makes(api: Api) -> None:
    """A text model's Output is an iterator of strings to concatenate; a model making one
    file a URL; a reference image input a uri."""
    text = api.get("/v1/models/genq/demo-text").json()["latest_version"]["openapi_schema"]
    assert text["components"]["schemas"]["Output"] == {
        "type": "array",
        "items": {"type": "string"},
        "title": "Output",
        "x-cog-array-type": "iterator",
        "x-cog-array-display": "concatenate",
    }
    mirror = api.get("/v1/models/genq/mirror").json()["latest_version"]["openapi_schema"]
    schemas = mirror["components"]["schemas"]
    assert schemas["Output"] == {"type": "string", "format": "uri", "title": "Output"}
    assert schemas["Input"]["properties"]["image"]["format"] == "uri"


def test_version_ids_are_stable_and_per_name(api: Api, tmp_path: Path) -> None:
    """A version id depends on the model's name and input schema only: another server with
    the same models gives the same ids; another name for the same model, another id; an
    alias with other inputs, another schema."""
    ids = {
        m["owner"] + "/" + m["name"]: m["latest_version"]["id"]
        for m in api.get("/v1/models").json()["results"]
    }
    assert ids["genq/demo-image"] != ids["black-forest-labs/flux-schnell"]
    other, again = start(
        tmp_path / "other",
        aliases={"genq/tiny": {"model": "demo-image", "input": {"steps": 2}}},
    )
    with other:
        same = again.get("/v1/models/genq/demo-image").json()["latest_version"]["id"]
        tiny = again.get("/v1/models/genq/tiny").json()["latest_version"]
    assert same == ids["genq/demo-image"]
    steps = tiny["openapi_schema"]["components"]["schemas"]["Input"]["properties"]["steps"]
    assert steps["default"] == 2


def test_names_resolve_by_alias_then_by_the_default_owner(api: Api) -> None:
    """owner/name is an alias or model of that exact name, else a model of genq's own owner;
    any other owner is Replicate's 404, as is an unknown name."""
    assert api.get("/v1/models/black-forest-labs/flux-schnell").status_code == 200
    assert api.get("/v1/models/meta/meta-llama-3-8b-instruct").status_code == 200
    assert api.get("/v1/models/genq/seedream-4.5").status_code == 200
    for path in ("/v1/models/someone/demo-image", "/v1/models/genq/nothing"):
        assert problem(api.get(path), 404)["code"] == "model_not_found"
    made = api.create("black-forest-labs/flux-schnell")
    assert made["model"] == "black-forest-labs/flux-schnell"
    native = api.client.get(f"/v1/jobs/{made['id']}", headers=api.headers()).json()
    assert native["model"] == "demo-image"
    # Runs are counted per name, and per account.
    assert api.get("/v1/models/black-forest-labs/flux-schnell").json()["run_count"] == 1
    assert api.get("/v1/models/genq/demo-image").json()["run_count"] == 0
    other = api.get("/v1/models/black-forest-labs/flux-schnell", key=api.account("other"))
    assert other.json()["run_count"] == 0


def test_the_default_owner_is_a_setting(tmp_path: Path) -> None:
    """[dialects.replicate] owner renames genq's own owner."""
    client, api = start(tmp_path, dialects={"replicate": {"owner": "acme"}})
    with client:
        assert api.get("/v1/models/acme/demo-image").status_code == 200
        assert api.get("/v1/models/genq/demo-image").status_code == 404
        assert api.create("acme/demo-text")["model"] == "acme/demo-text"


# -- creating predictions -----------------------------------------------------------------
def test_a_new_prediction(api: Api) -> None:
    """A created prediction is starting, with its model, version, input as given, ISO times
    and its URLs under /replicate; a text model's has a stream URL."""
    version = api.get("/v1/models/genq/demo-image").json()["latest_version"]["id"]
    made = api.create(input={"prompt": "a fox", "num_outputs": 2, "go_fast": True})
    assert made["status"] == "starting"
    assert (made["model"], made["version"]) == ("genq/demo-image", version)
    assert made["input"] == {"prompt": "a fox", "num_outputs": 2, "go_fast": True}
    assert (made["output"], made["error"], made["logs"], made["metrics"]) == (None, None, "", {})
    assert made["created_at"].endswith("Z")
    assert made["started_at"] is None
    assert made["completed_at"] is None
    own = f"{ROOT}/v1/predictions/{made['id']}"
    assert made["urls"] == {"get": own, "cancel": f"{own}/cancel"}
    native = api.client.get(f"/v1/jobs/{made['id']}", headers=api.headers()).json()
    assert native["input"]["num_images"] == 2
    assert "go_fast" not in native["input"]
    text = api.create("genq/demo-text", input={"prompt": "x"})
    assert text["urls"]["stream"] == f"{ROOT}/v1/predictions/{text['id']}/stream"
    asked = api.create(stream=True)
    assert asked["urls"]["stream"].endswith("/stream")


def test_create_by_version_in_each_form(api: Api) -> None:
    """POST /v1/predictions takes a bare version id, owner/name and owner/name:id; another
    id, or a malformed one, is not found."""
    version = api.get("/v1/models/genq/demo-text").json()["latest_version"]["id"]
    for given in (version, "genq/demo-text", f"genq/demo-text:{version}"):
        made = api.post("/v1/predictions", json={"version": given, "input": {"prompt": "x"}})
        assert made.status_code == 201, made.text
        assert (made.json()["model"], made.json()["version"]) == ("genq/demo-text", version)
    for wrong in ("0" * 64, f"genq/demo-text:{'0' * 64}", "not-a-version"):
        refused = api.post("/v1/predictions", json={"version": wrong, "input": {}})
        assert problem(refused, 404)["code"] == "version_not_found"
    missing = api.post("/v1/predictions", json={"input": {}})
    assert problem(missing, 422)["invalid_fields"][0]["field"] == "version"


def test_a_deployment_is_named_as_a_model(api: Api) -> None:
    """POST /v1/deployments/{owner}/{name}/predictions runs the model of that name."""
    made = api.post("/v1/deployments/genq/demo-image/predictions", json={"input": {"prompt": "x"}})
    assert made.status_code == 201
    assert made.json()["model"] == "genq/demo-image"


def test_invalid_requests_name_each_field(api: Api) -> None:
    """An input the model refuses, and a malformed field of the request, answer 422 naming
    each failing field; a body that is not JSON answers 400."""
    bad_input = api.post("/v1/models/genq/demo-image/predictions", json={"input": {"steps": 500}})
    body = problem(bad_input, 422)
    assert body["title"] == "Input validation failed"
    assert {f["field"] for f in body["invalid_fields"]} == {"input/prompt", "input/steps"}
    for field, value in (
        ("input", "a string"),
        ("stream", "yes"),
        ("webhook", 3),
        ("webhook_events_filter", ["finished"]),
    ):
        answer = api.post(
            "/v1/models/genq/demo-image/predictions",
            json={"input": {"prompt": "x"}, field: value},
        )
        assert problem(answer, 422)["invalid_fields"][0]["field"] == field, field
    broken = api.post(
        "/v1/models/genq/demo-image/predictions",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    problem(broken, 400)


def test_auth_errors(api: Api) -> None:
    """No key or an unknown one is Replicate's 401."""
    anonymous = api.client.get("/replicate/v1/predictions")
    assert problem(anonymous, 401)["title"] == "Unauthenticated"
    wrong = api.get("/v1/predictions", key="gq_not-a-key")
    problem(wrong, 401)


def test_prefer_wait_that_runs_out_answers_starting(api: Api) -> None:
    """Prefer: wait=N holds the answer N seconds; a prediction still not ended then answers
    starting. A wait out of 1-60 is refused, naming the header."""
    began = time.monotonic()
    waited = api.post(
        "/v1/models/genq/demo-image/predictions",
        json={"input": {"prompt": "x"}},
        headers={"Prefer": "wait=1"},
    )
    assert time.monotonic() - began >= 1
    assert waited.json()["status"] == "starting"
    for prefer in ("wait=0", "wait=61", "wait=soon"):
        refused = api.post(
            "/v1/models/genq/demo-image/predictions",
            json={"input": {"prompt": "x"}},
            headers={"Prefer": prefer},
        )
        assert problem(refused, 422)["invalid_fields"][0]["field"] == "header/Prefer"


def test_a_wait_that_runs_out_on_a_running_prediction_answers_starting(api: Api) -> None:
    """A prediction a worker took during the wait still answers starting once the wait runs
    out (the client would take processing for the end), and processing when read after."""
    answers: list[Answer] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            api.post(
                "/v1/models/genq/noop/predictions",
                json={"input": {}},
                headers={"Prefer": "wait=2"},
            )
        )
    )
    waiting.start()
    claims: list[Any] = []
    deadline = time.monotonic() + 10
    while not claims and time.monotonic() < deadline:
        claims = api.store.claim("w-test", ["noop"], time.time(), 30)
        time.sleep(0.02)
    waiting.join()
    assert claims, "the prediction was never queued"
    [answer] = answers
    assert answer.status_code == 201
    assert answer.json()["status"] == "starting"
    assert answer.json()["started_at"] is not None
    assert api.get(f"/v1/predictions/{answer.json()['id']}").json()["status"] == "processing"


# -- reading predictions ------------------------------------------------------------------
def test_a_running_then_succeeded_text_prediction(api: Api) -> None:
    """While it runs, a text prediction is processing with the pieces streamed so far as
    output and its log lines and a tqdm progress bar as logs; once it ends, succeeded with
    metrics and completed_at."""
    made = api.create("genq/demo-text", input={"prompt": "x"})
    claim = take(api, "demo-text")
    now = time.time()
    api.store.add_event(claim, EventType.LOG, {"message": "seed 7"}, now)
    api.store.add_event(claim, EventType.TEXT, {"delta": "Light"}, now)
    api.store.add_event(claim, EventType.TEXT, {"delta": " falls"}, now)
    api.store.set_progress(claim, ProgressRecord(2, 4), now)
    running = api.get(f"/v1/predictions/{made['id']}").json()
    assert running["status"] == "processing"
    assert running["started_at"].endswith("Z")
    assert running["output"] == ["Light", " falls"]
    assert running["logs"] == "seed 7\n 50%|█████     | 2/4"
    api.store.add_event(claim, EventType.TEXT, {"delta": "."}, now)
    api.store.set_progress(claim, ProgressRecord(4, 4), now)
    api.store.finish(claim, time.time(), inference_time=0.25, cost_actual=Decimal("0"))
    done = api.get(f"/v1/predictions/{made['id']}").json()
    assert done["status"] == "succeeded"
    assert done["output"] == ["Light", " falls", "."]
    assert done["logs"].endswith("100%|██████████| 4/4")
    assert done["metrics"]["predict_time"] == 0.25
    assert done["metrics"]["total_time"] >= 0
    assert done["completed_at"].endswith("Z")


def test_file_outputs_are_urls(api: Api) -> None:
    """A model that can make several files answers a list of URLs, one that makes one file
    its URL alone."""
    several = api.create(input={"prompt": "x"})
    claim = take(api, "demo-image")
    output = OutputRecord(f"{several['id']}/1/output-0.png", "image/png", 10, "0" * 64)
    api.store.finish(claim, time.time(), outputs=[output], cost_actual=Decimal("0"))
    [url] = api.get(f"/v1/predictions/{several['id']}").json()["output"]
    assert url.startswith(f"http://testserver/files/{several['id']}/1/output-0.png?")
    one = api.create("genq/mirror", input={"image": "https://example.com/a.png"})
    claim = take(api, "mirror")
    output = OutputRecord(f"{one['id']}/1/mirrored.png", "image/png", 10, "0" * 64)
    api.store.finish(claim, time.time(), outputs=[output], cost_actual=Decimal("0"))
    single = api.get(f"/v1/predictions/{one['id']}").json()["output"]
    assert isinstance(single, str)
    assert single.startswith(f"http://testserver/files/{one['id']}/1/mirrored.png?")


def test_failed_expired_and_canceled_predictions(api: Api) -> None:
    """A failed prediction carries the model's error; a canceled one none; an expired job
    reads failed, with why."""
    made = api.create("genq/noop", input={})
    claim = take(api, "noop")
    api.store.finish(claim, time.time(), error=Failure("model_error", "out of ink"))
    failed = api.get(f"/v1/predictions/{made['id']}").json()
    assert (failed["status"], failed["error"]) == ("failed", "out of ink")
    queued = api.create("genq/noop", input={})
    canceled = api.post(f"/v1/predictions/{queued['id']}/cancel").json()
    assert (canceled["status"], canceled["error"]) == ("canceled", None)
    job = api.store.get_job(api.account_id, queued["id"], time.time())
    assert job is not None
    expired = dataclasses.replace(job, status=Status.EXPIRED, error=None)
    assert error(expired) == "the prediction expired before a worker took it"
    reason = Failure("start_deadline", "no worker took it before its start deadline")
    assert error(dataclasses.replace(expired, error=reason)) == reason.message
    assert STATUS_WORDS[Status.EXPIRED] == "failed"


def test_cancel_is_idempotent_and_leaves_an_ended_prediction(api: Api) -> None:
    """Cancel answers the prediction: canceled (again and again) while it had not ended, as
    it is once it ended."""
    made = api.create("genq/noop", input={})
    for _ in range(2):
        answer = api.post(f"/v1/predictions/{made['id']}/cancel")
        assert answer.status_code == 200
        assert answer.json()["status"] == "canceled"
    done = api.create("genq/noop", input={})
    claim = take(api, "noop")
    api.store.finish(claim, time.time(), cost_actual=Decimal("0"))
    assert api.post(f"/v1/predictions/{done['id']}/cancel").json()["status"] == "succeeded"


def test_other_accounts_and_other_apis_do_not_see_a_prediction(api: Api) -> None:
    """Another account's prediction, and a job made through the native API, answer 404 on
    every prediction route; the prediction is left queued."""
    made = api.create("genq/noop", input={})
    stranger = api.account("stranger")
    native = api.client.post(
        "/v1/jobs", headers=api.headers(), json={"model": "noop", "input": {}}
    ).json()
    for job_id, key in ((made["id"], stranger), (native["id"], api.key)):
        for method, path in (
            ("GET", f"/v1/predictions/{job_id}"),
            ("POST", f"/v1/predictions/{job_id}/cancel"),
            ("GET", f"/v1/predictions/{job_id}/stream"),
        ):
            answer = api.client.request(method, f"/replicate{path}", headers=api.headers(key))
            assert problem(answer, 404)["code"] == "prediction_not_found", path
    assert api.get(f"/v1/predictions/{made['id']}").json()["status"] == "starting"


def test_list_newest_first_by_cursor(api: Api) -> None:
    """GET /v1/predictions lists the caller's predictions made here, newest first, and next
    is the absolute URL of the following page; a native job and another account's
    prediction are not listed; a cursor no list gave is refused."""
    made = [api.create("genq/noop", input={})["id"] for _ in range(5)]
    api.client.post("/v1/jobs", headers=api.headers(), json={"model": "noop", "input": {}})
    api.create("genq/noop", key=api.account("stranger"), input={})
    listed: list[str] = []
    url: str | None = f"{ROOT}/v1/predictions?limit=2"
    while url is not None:
        page = api.client.get(url, headers=api.headers()).json()
        assert page["previous"] is None
        assert len(page["results"]) <= 2
        listed += [p["id"] for p in page["results"]]
        assert all(p["logs"] is None for p in page["results"])
        url = page["next"]
        assert url is None or url.startswith(f"{ROOT}/v1/predictions?cursor=")
    assert listed == made[::-1]
    refused = api.get("/v1/predictions", params={"cursor": "not-one"})
    problem(refused, 422)


# -- streams ------------------------------------------------------------------------------
def stream_events(api: Api, prediction_id: str, **headers: str) -> list[dict[str, str]]:
    """The events of a prediction's stream, each with its fields."""
    answer = api.client.get(
        f"/replicate/v1/predictions/{prediction_id}/stream",
        headers={**api.headers(), **headers},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in answer.text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events


def test_stream_of_an_ended_text_prediction(api: Api) -> None:
    """The stream replays output (each streamed piece) and logs events, then done; every
    event has an id, and no other event names are used. Last-Event-ID resumes after one."""
    made = api.create("genq/demo-text", input={"prompt": "x"})
    claim = take(api, "demo-text")
    now = time.time()
    api.store.add_event(claim, EventType.TEXT, {"delta": "Rain"}, now)
    api.store.add_event(claim, EventType.LOG, {"message": "halfway"}, now)
    api.store.add_event(claim, EventType.TEXT, {"delta": " falls\non"}, now)
    api.store.finish(claim, time.time(), cost_actual=Decimal("0"))
    events = stream_events(api, made["id"])
    assert [(e["event"], e.get("data")) for e in events] == [
        ("output", "Rain"),
        ("logs", "halfway"),
        ("output", " falls\non"),
        ("done", "{}"),
    ]
    assert all(e["id"] for e in events)
    resumed = stream_events(api, made["id"], **{"Last-Event-ID": events[1]["id"]})
    assert [e["event"] for e in resumed] == ["output", "done"]


def test_stream_ends_with_error_or_canceled(api: Api) -> None:
    """A failed prediction's stream ends with its error, then done (reason error); a
    canceled one's with done (reason canceled)."""
    failing = api.create("genq/demo-text", input={"prompt": "x"})
    claim = take(api, "demo-text")
    api.store.finish(claim, time.time(), error=Failure("model_error", "out of words"))
    events = stream_events(api, failing["id"])
    assert [(e["event"], e["data"]) for e in events] == [
        ("error", "out of words"),
        ("done", orjson.dumps({"reason": "error"}).decode()),
    ]
    canceled = api.create("genq/demo-text", input={"prompt": "x"})
    api.post(f"/v1/predictions/{canceled['id']}/cancel")
    [done] = stream_events(api, canceled["id"])
    assert (done["event"], done["data"]) == ("done", '{"reason":"canceled"}')


# -- webhooks -----------------------------------------------------------------------------
def native_job(api: Api, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = api.client.get(f"/v1/jobs/{job_id}", headers=api.headers()).json()
    return job


def test_webhook_events_map_onto_genqs(api: Api) -> None:
    """webhook_events_filter maps onto genq's events (logs: progress), with start and
    completed always; no filter means all four; webhook_completed alone is called once the
    prediction ends."""
    hook = "http://127.0.0.1:9/hook"
    cases: tuple[tuple[dict[str, Any], list[str]], ...] = (
        ({"webhook_events_filter": ["output"]}, ["start", "output", "completed"]),
        ({"webhook_events_filter": ["logs"]}, ["start", "progress", "completed"]),
        ({}, ["start", "progress", "output", "completed"]),
    )
    for extra, events in cases:
        made = api.create(webhook=hook, **extra)
        job = native_job(api, made["id"])
        assert (job["webhook"], job["webhook_events"]) == (hook, events)
    older = native_job(api, api.create(webhook_completed=hook)["id"])
    assert (older["webhook"], older["webhook_events"]) == (hook, ["completed"])
    both = api.post(
        "/v1/models/genq/demo-image/predictions",
        json={"input": {"prompt": "x"}, "webhook": hook, "webhook_completed": hook + "2"},
    )
    assert problem(both, 422)["invalid_fields"][0]["field"] == "webhook_completed"


def test_a_webhook_genq_would_not_call_is_refused(tmp_path: Path) -> None:
    """Without webhook_allow_http, an http webhook is refused at create, naming the field."""
    client, api = start(tmp_path)
    with client:
        refused = api.post(
            "/v1/models/genq/demo-image/predictions",
            json={"input": {"prompt": "x"}, "webhook": "http://127.0.0.1:9/hook"},
        )
    assert problem(refused, 422)["invalid_fields"][0]["field"] == "webhook"


def test_default_webhook_secret_and_account(api: Api) -> None:
    """The default secret is the account's (the one genq signs its calls with), and the
    account route names the caller's account."""
    key = api.get("/v1/webhooks/default/secret").json()["key"]
    assert key.startswith("whsec_")
    native = api.client.get("/v1/webhooks/default/secret", headers=api.headers()).json()
    assert native["key"] == key
    assert api.get("/v1/account").json()["username"] == "default"


# -- files --------------------------------------------------------------------------------
def test_upload_get_download_delete(api: Api) -> None:
    """An upload answers a file object whose urls.get downloads it; get reads it, delete
    removes it (204), after which it is not found; another account never sees it."""
    data = png_bytes()
    made = upload(api, data, metadata='{"purpose": "test"}')
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["name"] == "input.png"
    assert body["content_type"] == "image/png"
    assert body["size"] == len(data)
    assert body["metadata"] == {"purpose": "test"}
    assert body["urls"]["get"] == f"{ROOT}/v1/files/{body['id']}/download"
    assert body["expires_at"] > body["created_at"]
    downloaded = api.client.get(body["urls"]["get"], headers=api.headers())
    assert (downloaded.content, downloaded.headers["content-type"]) == (data, "image/png")
    assert api.get(f"/v1/files/{body['id']}").json() == body
    stranger = api.account("stranger")
    assert problem(api.get(f"/v1/files/{body['id']}", key=stranger), 404)["code"] == (
        "file_not_found"
    )
    problem(api.client.get(body["urls"]["get"], headers=api.headers(stranger)), 404)
    problem(api.delete(f"/v1/files/{body['id']}", key=stranger), 404)
    assert api.delete(f"/v1/files/{body['id']}").status_code == 204
    problem(api.get(f"/v1/files/{body['id']}"), 404)


def test_an_input_naming_an_upload_gets_its_bytes(api: Api) -> None:
    """A prediction's input that names the caller's own upload keeps the link, while its
    job gets the file's bytes as a data: URI; another account's upload, or a deleted one,
    is refused naming the field."""
    data = png_bytes()
    link = upload(api, data).json()["urls"]["get"]
    made = api.create("genq/mirror", input={"image": link})
    assert made["input"] == {"image": link}
    job = native_job(api, made["id"])
    assert job["input"]["image"] == "data:image/png;base64," + base64.b64encode(data).decode()
    theirs = upload(api, data, key=api.account("stranger")).json()["urls"]["get"]
    refused = api.post("/v1/models/genq/mirror/predictions", json={"input": {"image": theirs}})
    assert problem(refused, 422)["invalid_fields"][0]["field"] == "input/image"
    api.delete(link.removesuffix("/download").removeprefix(ROOT))
    gone = api.post("/v1/models/genq/mirror/predictions", json={"input": {"image": link}})
    assert problem(gone, 422)["invalid_fields"][0]["field"] == "input/image"


def test_a_key_with_a_slash_is_not_a_list_item() -> None:
    """The places links are found at and replaced in tell the key ``a/0`` from the first item
    of ``a``: replacing the one's link leaves the other's value as it was."""
    given = {"a/0": "link", "a": ["keep-me"]}
    assert list(strings(given, ("input",))) == [
        (("input", "a/0"), "link"),
        (("input", "a", 0), "keep-me"),
    ]
    done = replaced(given, ("input",), {("input", "a/0"): "data:,x"})
    assert done == {"a/0": "data:,x", "a": ["keep-me"]}


def test_uploads_are_bounded(tmp_path: Path) -> None:
    """A file larger than reference_max_bytes is refused (413), an account holding its most
    uploads is refused more (429); a body that is not a form, or has no file, is refused."""
    client, api = start(
        tmp_path,
        reference_max_bytes=2000,
        dialects={"replicate": {"max_uploads_per_account": 2}},
    )
    with client:
        problem(upload(api, b"x" * 2001), 413)
        assert upload(api, b"x" * 100).status_code == 201
        assert upload(api, b"x" * 100).status_code == 201
        assert problem(upload(api, b"x" * 100), 429)["code"] == "too_many_uploads"
        assert upload(api, b"x" * 100, key=api.account("other")).status_code == 201
        no_file = api.post("/v1/files", data={"metadata": "{}"})
        assert problem(no_file, 422)["invalid_fields"][0]["field"] == "content"
        bad_metadata = upload(api, b"x", key=api.account("third"), metadata="[1]")
        assert problem(bad_metadata, 422)["invalid_fields"][0]["field"] == "metadata"
        broken = api.post(
            "/v1/files",
            content=b"--x\r\nnot a part",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        problem(broken, 400)
