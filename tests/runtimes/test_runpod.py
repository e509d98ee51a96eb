"""The runpod runtime: RunPod serverless handler files, written as RunPod's documentation
shows, served unchanged. Their behaviour runs through a worker in process with a real SQLite
store; the example handler, cancels and the native API through one real ``genq serve``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from genq.jobs import EventRecord, EventType, JobRecord
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import open_store
from genq.worker.runner import Worker
from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import read_events

serverless = pytest.importorskip("runpod.serverless")

EXAMPLE = Path(__file__).parents[2] / "examples" / "runpod" / "handler.py"


@dataclass
class Ran:
    """A job a handler ran: the job as stored, its events and its JSON output (None: none)."""

    job: JobRecord
    events: list[EventRecord]
    output: Any = None
    outputs: int = 0

    def of(self, type: EventType) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type is type]

    @property
    def values(self) -> list[Any]:
        return [data["value"] for data in self.of(EventType.PARTIAL)]


@pytest.fixture
def run_handler(tmp_path: Path) -> Any:
    """Write a handler file, serve it as model ``h`` and run a job for each input, in order,
    through one worker."""

    def run(source: str, *inputs: dict[str, Any], **table: Any) -> list[Ran]:
        folder = tmp_path / "handlers"
        folder.mkdir(exist_ok=True)
        path = folder / "handler.py"
        path.write_text(textwrap.dedent(source))
        models = {"h": {"runtime": "runpod", "handler": str(path), **table}}
        settings = Settings(data_dir=tmp_path, models=models, progress_interval_seconds=0)
        store = open_store(settings.db_url)
        registry = ModelRegistry(settings.models)
        storage = open_storage(settings.storage_url, settings.signing_secret())
        service = JobService(settings, store, storage, registry, LocalNotifier())
        account = store.ensure_account("tester", None, time.time()).id

        async def submit() -> list[str]:
            return [(await service.submit(account, "h", i))[0].id for i in inputs or [{}]]

        try:
            ids = asyncio.run(submit())
            worker = Worker(settings, "w-test", store=store, registry=registry)
            assert worker.run(burst=True) == len(ids)
            ran = []
            for job_id in ids:
                job = store.get_job_any_account(job_id, time.time())
                assert job is not None
                one = Ran(job, store.events_after(job_id, 0), outputs=len(job.outputs))
                if job.outputs:
                    assert job.outputs[0].content_type == "application/json"
                    data = storage.read(job.outputs[0].key, 1 << 20)
                    assert data is not None
                    one.output = orjson.loads(data)
                ran.append(one)
            return ran
        finally:
            store.close()

    return run


def failed(ran: Ran) -> tuple[str, str]:
    assert ran.job.status == "failed", ran.job
    assert ran.job.error is not None
    return ran.job.error.code, ran.job.error.message


SYNC = """
import runpod
from helper import shout

def handler(job):
    return {"id": job["id"], "said": shout(job["input"]["prompt"])}

if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
"""


def test_a_handler_file_runs_unchanged_and_runpods_loop_never_starts(
    run_handler: Any, tmp_path: Path
) -> None:
    """A file that calls runpod.serverless.start under ``__main__`` (and imports a module
    beside it) serves its handler with the job's id and input; RunPod's own start and
    progress_update are back in place once the worker has ended."""
    start, progress_update = serverless.start, serverless.progress_update
    helper = tmp_path / "handlers" / "helper.py"
    helper.parent.mkdir()
    helper.write_text("def shout(text):\n    return text.upper() + '!'\n")
    [ran] = run_handler(SYNC, {"prompt": "hello"})
    assert ran.job.status == "succeeded", ran.job
    assert ran.output == {"id": ran.job.id, "said": "HELLO!"}
    assert (serverless.start, serverless.progress_update) == (start, progress_update)
    assert str(helper.parent) not in sys.path


ASYNC = """
import asyncio
import runpod

LOCK = asyncio.Lock()

async def handler(job):
    async with LOCK:
        await asyncio.sleep(0.01)
    return [job["input"]["n"], "done"]

runpod.serverless.start({"handler": handler})
"""


def test_an_async_handler_is_awaited_on_a_loop_kept_between_jobs(run_handler: Any) -> None:
    """A coroutine handler is awaited, its return value the output; a lock made when the file
    loaded serves every job (one event loop for the model)."""
    ran = run_handler(ASYNC, {"n": 1}, {"n": 2})
    assert [r.output for r in ran] == [[1, "done"], [2, "done"]]


GENERATORS = {
    "sync": """
import runpod

def handler(job):
    for word in job["input"]["prompt"].split():
        yield {"word": word}
    yield word.upper()

runpod.serverless.start({"handler": handler, "return_aggregate_stream": AGGREGATE})
""",
    "async": """
import asyncio
import runpod

async def handler(job):
    for word in job["input"]["prompt"].split():
        await asyncio.sleep(0)
        yield {"word": word}
    yield word.upper()

runpod.serverless.start({"handler": handler, "return_aggregate_stream": AGGREGATE})
""",
}


@pytest.mark.parametrize("aggregate", [True, False])
@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generator_items_stream_as_partial_events(
    run_handler: Any, kind: str, aggregate: bool
) -> None:
    """Each item a generator (or async generator) handler yields is a partial event, in
    order; with return_aggregate_stream the list of them is the output, else there is none."""
    source = GENERATORS[kind].replace("AGGREGATE", str(aggregate))
    [ran] = run_handler(source, {"prompt": "one two three"})
    assert ran.job.status == "succeeded", ran.job
    items = [{"word": "one"}, {"word": "two"}, {"word": "three"}, "THREE"]
    assert ran.values == items
    assert ran.output == (items if aggregate else None)
    assert ran.outputs == (1 if aggregate else 0)


RETURNS = """
import runpod

def handler(job):
    return job["input"]["value"]

runpod.serverless.start({"handler": handler})
"""


@pytest.mark.parametrize(
    ("value", "output"),
    [
        ("some text", "some text"),
        (0, 0),
        (False, False),
        ([], []),
        ({"a": 1, "refresh_worker": False}, {"a": 1}),
        (None, None),
        ({}, None),
        ({"refresh_worker": False}, None),
    ],
)
def test_what_a_handler_returns_is_one_json_output(
    run_handler: Any, value: Any, output: Any
) -> None:
    """The returned value is the job's JSON output as RunPod's worker reads it (without the
    refresh_worker key); None and an empty dict leave the job without outputs."""
    [ran] = run_handler(RETURNS, {"value": value})
    assert ran.job.status == "succeeded", ran.job
    assert (ran.output, ran.outputs) == (output, 0 if output is None else 1)


FAILING = """
import runpod

def handler(job):
    how = job["input"]["how"]
    if how == "error":
        return {"error": "the prompt is empty", "partial": "kept nowhere"}
    if how == "error-object":
        return {"error": {"reason": "quota", "left": 0}}
    if how == "raise":
        raise ValueError("no such voice")
    return {1, 2}

runpod.serverless.start({"handler": handler})
"""


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("error", "the prompt is empty"),
        ("error-object", '{"reason":"quota","left":0}'),
        ("raise", "no such voice"),
        ("set", "the handler's output is not JSON"),
    ],
)
def test_a_failing_handler_fails_its_job(run_handler: Any, how: str, message: str) -> None:
    """A returned {"error": ...} (its text, or its JSON), an exception (its message) and an
    output JSON cannot hold fail the job with model_error and leave no output."""
    [ran] = run_handler(FAILING, {"how": how})
    code, text = failed(ran)
    assert code == "model_error"
    assert text.startswith(message)
    assert ran.outputs == 0


STREAM_FAILING = """
from pathlib import Path
import runpod

def handler(job):
    try:
        yield 1
        if job["input"]["how"] == "error":
            yield {"error": "out of words"}
        else:
            raise RuntimeError("the model broke")
        yield 2
    finally:
        Path(job["input"]["closed"]).write_text("closed")

runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
"""


@pytest.mark.parametrize(
    ("how", "message"), [("error", "out of words"), ("raise", "the model broke")]
)
def test_a_generator_that_fails_ends_its_stream(
    run_handler: Any, tmp_path: Path, how: str, message: str
) -> None:
    """A yielded {"error": ...} or an exception fails the job with its text after the items
    before it were streamed; the generator is closed (its finally block runs)."""
    closed = tmp_path / "closed"
    [ran] = run_handler(STREAM_FAILING, {"how": how, "closed": str(closed)})
    assert failed(ran) == ("model_error", message)
    assert ran.values == [1]
    assert closed.read_text() == "closed"


PROGRESS = """
import threading
import runpod
from runpod.serverless import progress_update

def handler(job):
    runpod.serverless.progress_update(job, 25)
    progress_update(job, "half way")
    progress_update(job, 250)
    progress_update(job, {"stage": "decode"})
    helper = threading.Thread(target=progress_update, args=(job, 99.6))
    helper.start()
    helper.join()
    progress_update({"id": "some-other-job"}, 10)
    return "ok"

runpod.serverless.start({"handler": handler})
"""


def test_progress_update_is_the_jobs_progress(run_handler: Any) -> None:
    """progress_update (as runpod.serverless's attribute, or imported from it when the file
    loads, from any thread) reports the job's progress: a number as a percentage (kept within
    0-100), anything else as the message; an update naming another job is dropped."""
    [ran] = run_handler(PROGRESS)
    assert ran.job.status == "succeeded", ran.job
    progress = [(p["step"], p["total"], p["message"]) for p in ran.of(EventType.PROGRESS)]
    assert progress == [
        (25, 100, None),
        (25, 100, "half way"),
        (100, 100, None),
        (100, 100, '{"stage":"decode"}'),
        (100, 100, None),
    ]


REFRESH = """
import runpod

LOADS = []
LOADS.append(1)
JOBS = []

def handler(job):
    JOBS.append(job["id"])
    return {"loads": len(LOADS), "jobs": len(JOBS), "refresh_worker": job["input"]["refresh"]}

runpod.serverless.start({"handler": handler, "refresh_worker": ALWAYS})
"""


@pytest.mark.parametrize(
    ("always", "asked", "seen"),
    [
        (False, [False, True, False, False], [1, 2, 1, 2]),
        (True, [False, False, False], [1, 1, 1]),
    ],
)
def test_refresh_worker_runs_the_file_again_before_the_next_job(
    run_handler: Any, always: bool, asked: list[bool], seen: list[int]
) -> None:
    """refresh_worker in the config (every job) or in a returned dict (that job) makes the
    next job find the file run again, its module state fresh; without it jobs share it."""
    source = REFRESH.replace("ALWAYS", str(always))
    ran = run_handler(source, *({"refresh": refresh} for refresh in asked))
    assert [r.output["jobs"] for r in ran] == seen
    assert {r.output["loads"] for r in ran} == {1}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import runpod\n\ndef handler(job):\n    return 1\n", "did not call"),
        ("import runpod\n\nrunpod.serverless.start({'handler': 'nope'})\n", "callable"),
        ("import sys\n\nsys.exit(3)\n", "exited (3)"),
        ("raise ImportError('no module named torch')\n", "no module named torch"),
    ],
)
def test_a_file_that_cannot_serve_fails_to_load(
    run_handler: Any, source: str, message: str
) -> None:
    """A file that never calls start, gives it no callable handler, exits or raises fails its
    job with model_load_failed, saying why."""
    [ran] = run_handler(source)
    code, text = failed(ran)
    assert code == "model_load_failed"
    assert message in text


def test_a_missing_file_fails_to_load(tmp_path: Path, run_handler: Any) -> None:
    """A handler path that names no file fails the job with model_load_failed."""
    source = "import runpod\nrunpod.serverless.start({'handler': lambda job: 1})\n"
    [ran] = run_handler(source, handler=str(tmp_path / "nowhere.py"))
    code, text = failed(ran)
    assert code == "model_load_failed"
    assert "no handler file" in text


def test_the_api_needs_neither_the_file_nor_runpod_loaded(tmp_path: Path) -> None:
    """The API process lists a runpod model with the table's schema, memory and modality
    without reading its file (which need not exist there) or importing runpod."""
    code = f"""
import sys
from genq.server import build_app
from genq.settings import Settings
schema = {{"type": "object", "required": ["prompt"], "properties": {{"prompt": {{}}}}}}
models = {{"h": {{"runtime": "runpod", "handler": "/nowhere/handler.py", "modality": "text",
                  "input_schema": schema, "memory_gb": 2}}}}
build_app(Settings(data_dir={str(tmp_path)!r}, models=models))
from genq.models.registry import ModelRegistry
registered = ModelRegistry(models).get("h")
print(registered.describe()["input_schema"] == schema, registered.model.modality,
      registered.model.memory_bytes(), "runpod" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "text", str(2 * 1024**3), "False"]


# -- one real server ----------------------------------------------------------------------

SLOW_GENERATOR = """
import time
from pathlib import Path
import runpod

def handler(job):
    try:
        for n in range(100_000):
            time.sleep(0.02)
            yield n
    finally:
        Path(job["input"]["closed"]).write_text("closed")

runpod.serverless.start({"handler": handler})
"""

SLOW_SYNC = """
import time
from pathlib import Path
import runpod

def handler(job):
    try:
        for n in range(100_000):
            time.sleep(0.02)
            runpod.serverless.progress_update(job, f"step {n}")
    finally:
        Path(job["input"]["closed"]).write_text("closed")
    return "never"

runpod.serverless.start({"handler": handler})
"""


@pytest.fixture(scope="module")
def runpod_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """A server with the example handler as ``words`` and two slow handlers to cancel; its
    cancel grace is long, so that only the handlers' own stops end canceled jobs in time."""
    folder = tmp_path_factory.mktemp("runpod")
    (folder / "slow_generator.py").write_text(SLOW_GENERATOR)
    (folder / "slow_sync.py").write_text(SLOW_SYNC)
    toml = f"""
[models.words]
runtime = "runpod"
handler = "{EXAMPLE}"
modality = "text"
input_schema.type = "object"
input_schema.required = ["prompt"]
input_schema.properties.prompt.type = "string"
input_schema.properties.delay_ms.type = "integer"

[models.slow-generator]
runtime = "runpod"
handler = "{folder / "slow_generator.py"}"

[models.slow-sync]
runtime = "runpod"
handler = "{folder / "slow_sync.py"}"
"""
    server = GenqServer(folder / "data", toml=toml, cancel_grace_seconds=60.0).start()
    yield server
    server.close()


@pytest.fixture
def api(runpod_server: GenqServer) -> Iterator[httpx.Client]:
    with runpod_server.client() as client:
        yield client


def test_the_example_streams_its_words_through_the_native_api(api: httpx.Client) -> None:
    """The example handler, unchanged, streams one partial event per word on the job's event
    stream, reports its progress, and leaves the list of words as its JSON output."""
    response = api.post("/v1/jobs", json={"model": "words", "input": {"prompt": "hello genq"}})
    assert response.status_code == 202, response.text
    job = wait_for(api, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["fraction"] == 1.0
    events = read_events(api, job["id"])
    partials = [event["data"]["value"] for event in events if event["event"] == "partial"]
    words = [{"index": 0, "word": "hello"}, {"index": 1, "word": "genq"}]
    assert partials == words
    [output] = job["outputs"]
    assert output["content_type"] == "application/json"
    assert api.get(f"/v1/jobs/{job['id']}/outputs/0").json() == words
    assert api.post("/v1/jobs", json={"model": "words", "input": {}}).status_code == 422


@pytest.mark.parametrize(
    ("model", "started"), [("slow-generator", "partial"), ("slow-sync", "progress")]
)
def test_a_cancel_stops_the_handler_at_its_next_yield_or_progress_update(
    api: httpx.Client, tmp_path: Path, model: str, started: str
) -> None:
    """A canceled job whose handler yields, or calls progress_update, ends canceled there,
    its worker alive: the handler's finally block runs in it."""
    closed = tmp_path / "closed"
    response = api.post("/v1/jobs", json={"model": model, "input": {"closed": str(closed)}})
    job_id = response.json()["id"]

    def has_started() -> bool:
        events = read_events_now(api, job_id)
        return started in {event["event"] for event in events}

    wait_until(has_started, timeout=60)
    assert api.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(api, job_id, timeout=30)
    assert job["status"] == "canceled", job
    wait_until(closed.exists, timeout=10)
    assert closed.read_text() == "closed"


def read_events_now(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """The job's events so far (the stream cut short after a moment)."""
    events: list[dict[str, Any]] = []
    with api.stream("GET", f"/v1/jobs/{job_id}/events", params={"timeout": 0.2}) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append({"event": line.removeprefix("event: ")})
    return events


def test_the_official_client_streams_the_example_and_waits_for_its_output(
    runpod_server: GenqServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RunPod's own client, pointed at genq's RunPod routes, streams the example handler's
    items as it yields them, reads the aggregated list as the job's output, and gets the same
    list back from run_sync."""
    runpod = pytest.importorskip("runpod")
    monkeypatch.setattr(runpod, "endpoint_url_base", f"{runpod_server.url}/runpod/v2")
    endpoint = runpod.Endpoint("words", api_key=runpod_server.key)
    job = endpoint.run({"prompt": "one two three", "delay_ms": 100})
    words = [{"index": n, "word": w} for n, w in enumerate(["one", "two", "three"])]
    assert list(job.stream()) == words
    assert job.status() == "COMPLETED"
    assert job.output() == words
    assert endpoint.run_sync({"prompt": "just this"}, timeout=60) == [
        {"index": 0, "word": "just"},
        {"index": 1, "word": "this"},
    ]
