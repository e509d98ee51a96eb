"""Automatic retries with real worker processes: a model's job that fails with a model error
(or runs out of memory) goes back to the queue, is taken again once its backoff has passed,
not before, and counts each attempt; past ``max_retries`` it fails as usual.

The workers poll every 5 s here: a retry taken within a second of its time was taken because
the idle worker woke for it, not because a poll happened to come.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import timestamp

pytestmark = pytest.mark.slow

FLAKY = """
[models.flaky]
entrypoint = "tests.plugins:Flaky"
max_retries = {retries}
retry_backoff_seconds = 1

[models.flaky-plain]
entrypoint = "tests.plugins:Flaky"
"""


def start(make_server: Any, retries: int) -> GenqServer:
    server: GenqServer = make_server(
        toml=FLAKY.format(retries=retries), workers=1, poll_interval_seconds=5.0
    )
    return server


def attempts_started(tally: Path, job_id: str) -> list[float]:
    return [float(line) for line in (tally / job_id).read_text().splitlines()]


def status_events(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """The job's status events, from its event stream (which ends with the job)."""
    events = []
    with api.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind == "status":
                events.append(httpx.Response(200, content=line[5:]).json())
    return events


def test_a_failed_attempt_runs_again_after_its_backoff(make_server: Any, tmp_path: Path) -> None:
    """A job that fails its first attempt with a model error waits in the queue, showing when
    it runs again; its second attempt starts at that time, not before and within a second,
    and succeeds, counted in attempts and in the figures."""
    server = start(make_server, retries=2)
    tally = tmp_path / "tally"
    tally.mkdir()
    with server.client() as api:
        answer = api.post(
            "/v1/jobs", json={"model": "flaky", "input": {"tally": str(tally), "failures": 1}}
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]

        def waiting() -> bool:
            job = api.get(f"/v1/jobs/{job_id}").json()
            return job["status"] == "queued" and "next_attempt_at" in job

        wait_until(waiting, timeout=30, interval=0.02)
        job = api.get(f"/v1/jobs/{job_id}").json()
        assert job["attempts"] == 1
        assert job["error"] is None
        assert "attempt 1 failed" in job["status_message"]
        run_after = timestamp(job["next_attempt_at"])

        done = wait_for(api, job_id, timeout=30)
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 2
        assert "next_attempt_at" not in done
        first, second = attempts_started(tally, job_id)
        assert second >= run_after
        assert second - run_after < 1.0
        assert timestamp(done["started_at"]) >= run_after
        statuses = status_events(api, job_id)
        assert [e["status"] for e in statuses] == [
            "queued",
            "running",
            "queued",
            "running",
            "succeeded",
        ]
        retried = statuses[2]
        assert retried["error"] == {"code": "model_error", "message": "attempt 1 failed"}
        assert retried["retry"] == {"attempt": 1, "next_attempt_at": job["next_attempt_at"]}
        assert second - first >= 0.8  # the backoff of 1 s, less its jitter
        figures = api.get("/metrics").text
        assert 'genq_jobs_retried_total{code="model_error",model="flaky"} 1.0' in figures


def test_a_job_out_of_retries_fails(make_server: Any, tmp_path: Path) -> None:
    """A job still failing after max_retries retries fails with its last error, each
    attempt counted; a retry was made for each failure but the last. A model that sets no
    max_retries fails at its first failure."""
    server = start(make_server, retries=1)
    tally = tmp_path / "tally"
    tally.mkdir()
    with server.client() as api:
        body = {"model": "flaky", "input": {"tally": str(tally), "failures": 5, "oom": True}}
        job_id = api.post("/v1/jobs", json=body).json()["id"]
        done = wait_for(api, job_id, timeout=30)
        assert done["status"] == "failed", done
        assert done["error"]["code"] == "out_of_memory"
        assert "attempt 2 ran out of memory" in done["error"]["message"]
        assert done["attempts"] == 2
        assert len(attempts_started(tally, job_id)) == 2
        statuses = [e["status"] for e in status_events(api, job_id)]
        assert statuses == ["queued", "running", "queued", "running", "failed"]
        assert done["cost"]["actual"] == 0

        started = time.monotonic()
        body = {"model": "flaky-plain", "input": {"tally": str(tally), "failures": 1}}
        plain = wait_for(api, api.post("/v1/jobs", json=body).json()["id"], timeout=30)
        assert (plain["status"], plain["attempts"]) == ("failed", 1)
        assert time.monotonic() - started < 3
        models = {m["name"]: m["max_retries"] for m in api.get("/v1/models").json()["data"]}
        assert (models["flaky"], models["flaky-plain"]) == (1, 0)
