"""A job's ``metrics.load_time``: the model load its worker process waited for before running
it, through a real ``genq serve`` with one worker process.

On SQLite: the worker measures the same on both stores, and the store's side (``finish`` keeps
the load time of a success, a failure or a cancel, the same statement for each) is checked on
both by ``test_finish_records_the_load_time_the_job_waited_for`` in tests/store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import read_events
from tests.plugins import SlowLoad

MODELS = """
[models.slow]
entrypoint = "tests.plugins:SlowLoad"

[models.slow-batch]
entrypoint = "tests.plugins:SlowLoad"
max_batch = 3
batch_wait_ms = 0

[models.slow-canceled]
entrypoint = "tests.plugins:SlowLoad"

[models.slow-broken]
entrypoint = "tests.plugins:SlowBroken"
"""


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """One server with a single worker process for these tests; each test's model is one of
    its own, which the worker has not loaded before."""
    server = GenqServer(tmp_path_factory.mktemp("load-time") / "data", MODELS, workers=1)
    yield server.start()
    server.close()


@pytest.fixture
def api(slow_server: GenqServer) -> Iterator[httpx.Client]:
    with slow_server.client() as client:
        yield client


def submit(api: httpx.Client, model: str, **input: Any) -> str:
    response = api.post("/v1/jobs", json={"model": model, "input": input})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@contextmanager
def worker_held(api: httpx.Client) -> Iterator[None]:
    """Keep the only worker busy while jobs are submitted, so that they share a call."""
    blocker = submit(api, "noop", sleep_ms=60_000)
    wait_until(lambda: api.get(f"/v1/jobs/{blocker}").json()["status"] == "running", timeout=60)
    try:
        yield
    finally:
        assert api.post(f"/v1/jobs/{blocker}/cancel").status_code == 200


def test_the_first_job_of_a_model_reports_its_load_and_the_next_none(api: httpx.Client) -> None:
    """The job that made its worker load the model has that time as its load time, apart
    from its inference time; the next job of the model on that worker has none."""
    first = wait_for(api, submit(api, "slow"))
    assert first["status"] == "succeeded"
    assert first["metrics"]["load_time"] >= SlowLoad.LOAD_SECONDS
    assert first["metrics"]["inference_time"] < first["metrics"]["load_time"]
    second = wait_for(api, submit(api, "slow"))
    assert second["status"] == "succeeded"
    assert second["metrics"]["load_time"] is None
    assert second["metrics"]["inference_time"] is not None


def test_each_job_of_a_batch_gets_the_load_before_its_call(api: httpx.Client) -> None:
    """Three jobs that share the model call which loaded the model all have its load time."""
    with worker_held(api):
        ids = [submit(api, "slow-batch", tag=str(n)) for n in range(3)]
    jobs = [wait_for(api, job_id) for job_id in ids]
    assert {job["status"] for job in jobs} == {"succeeded"}
    for job_id in ids:
        logs = [e["data"]["message"] for e in read_events(api, job_id) if e["event"] == "log"]
        assert "ran in a batch of 3 jobs" in logs
    [load_time] = {job["metrics"]["load_time"] for job in jobs}
    assert load_time >= SlowLoad.LOAD_SECONDS


def test_a_job_canceled_after_the_load_keeps_its_load_time(api: httpx.Client) -> None:
    """A job canceled while it runs still shows the load it waited for."""
    job_id = submit(api, "slow-canceled", sleep_ms=60_000)
    wait_until(lambda: api.get(f"/v1/jobs/{job_id}").json()["status"] == "running", timeout=60)
    assert api.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(api, job_id)
    assert job["status"] == "canceled"
    assert job["metrics"]["load_time"] >= SlowLoad.LOAD_SECONDS


def test_a_failed_load_counts_as_the_jobs_load_time(api: httpx.Client) -> None:
    """A model that fails to load fails its job, which shows the time the attempt took."""
    job = wait_for(api, submit(api, "slow-broken"))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "model_load_failed"
    assert job["metrics"]["load_time"] >= SlowLoad.LOAD_SECONDS
    assert job["metrics"]["inference_time"] is None
