"""Time limits through the native API and real worker processes: a job not started by its
start deadline expires; a job that runs past its timeout is stopped and fails ``timeout``, by
its worker at a step boundary or, for a model that does not look, by killing the worker."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import psutil
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.dialects.test_segmind import poll_status
from tests.http.test_jobs import read_events, submit, wait_status


def parsed(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ran_for(job: dict) -> float:
    return (parsed(job["finished_at"]) - parsed(job["started_at"])).total_seconds()


# The tests with a server of their own run on SQLite: the store's side of the time limits
# (expiry, time_out, no charge, the status events) is checked on both by
# tests/store/test_deadlines.py, and the timers and kills are the supervisor's.
@pytest.mark.backends("sqlite")
def test_a_job_queued_behind_a_busy_worker_expires_at_its_start_deadline(make_server) -> None:
    """With the only worker busy, a job with a 1 s start deadline ends expired about a
    second after its submit (error ``start_deadline``, with its status event), charged
    nothing: its account's balance is whole and nothing is held for it any more."""
    server: GenqServer = make_server(workers=1, sweep_interval_seconds=5.0)
    key = server.new_key("deadline-user", "--credits", "1")
    with server.client() as api, server.client(key) as user:
        busy = submit(api, {"sleep_ms": 30_000, "steps": 300})
        assert wait_status(api, busy["id"], "running")
        submitted = time.monotonic()
        job = submit(user, {}, start_deadline=1.0)
        assert job["status"] == "queued"
        deadline = parsed(job["start_deadline"])
        assert abs((deadline - parsed(job["created_at"])).total_seconds() - 1.0) < 0.01
        done = wait_for(user, job["id"], timeout=10)
        took = time.monotonic() - submitted
        assert done["status"] == "expired"
        assert done["error"]["code"] == "start_deadline"
        assert done["started_at"] is None
        assert done["cost"]["actual"] == 0
        # Its deadline, not the 5 s sweep, ends it.
        assert 0.9 < took < 2.5
        assert parsed(done["finished_at"]) >= deadline
        last = read_events(user, job["id"])[-1]["data"]
        assert last["status"] == "expired"
        assert last["error"]["code"] == "start_deadline"
        usage = user.get("/v1/usage").json()
        assert (usage["credits"], usage["held"]) == (1, 0)
        api.post(f"/v1/jobs/{busy['id']}/cancel")
        assert wait_for(api, busy["id"])["status"] == "canceled"


def test_a_job_that_starts_in_time_runs_past_its_start_deadline(api: httpx.Client) -> None:
    """A start deadline bounds the wait, not the run: a job a worker took in time succeeds."""
    assert wait_for(api, submit(api, {})["id"])["status"] == "succeeded"  # workers are up
    job = submit(api, {"sleep_ms": 1500}, start_deadline=1.0)
    assert wait_for(api, job["id"])["status"] == "succeeded"


@pytest.mark.backends("sqlite")
def test_a_noop_past_its_timeout_fails_timeout_within_the_grace_period(make_server) -> None:
    """A job that runs past its timeout is stopped by its model at a step boundary and ends
    failed with code ``timeout``, its message naming the limit, within the grace period and
    charged nothing; its worker process is not killed."""
    server: GenqServer = make_server(workers=1, cancel_grace_seconds=1.0, lease_seconds=600)
    with server.client() as api:
        job = submit(api, {"sleep_ms": 30_000, "steps": 300}, timeout=1)
        assert job["timeout"] == 1
        assert wait_status(api, job["id"], "running")
        [worker] = server.worker_pids()
        done = wait_for(api, job["id"], timeout=15)
        assert done["status"] == "failed"
        assert done["error"]["code"] == "timeout"
        assert "1 seconds" in done["error"]["message"]
        assert done["cost"]["actual"] == 0
        assert 1.0 <= ran_for(done) < 2.0
        assert done["progress"]["step"] < 300
        time.sleep(1.2)  # past the grace period, when a kill would have come
        assert server.worker_pids() == [worker]


@pytest.mark.backends("sqlite")
def test_a_model_that_ignores_the_stop_request_is_killed_at_its_timeout(make_server) -> None:
    """A model that never looks at its stop flag is killed a grace period after its timeout:
    the job ends failed with code ``timeout`` (not canceled, not queued again), and a new
    worker process takes the dead one's place."""
    server: GenqServer = make_server(workers=1, cancel_grace_seconds=1.0, lease_seconds=600)
    with server.client() as api:
        job = submit(api, {"sleep_ms": 60_000, "ignore_cancel": True}, timeout=1)
        assert wait_status(api, job["id"], "running")
        [worker] = server.worker_pids()
        done = wait_for(api, job["id"], timeout=15)
        assert done["status"] == "failed"
        assert done["error"]["code"] == "timeout"
        assert done["attempts"] == 1
        assert 2.0 <= ran_for(done) < 4.0
        wait_until(lambda: not psutil.pid_exists(worker) or worker not in server.worker_pids())
        wait_until(lambda: len(server.worker_pids()) == 1)
        after = submit(api, {"sleep_ms": 1})
        assert wait_for(api, after["id"], timeout=20)["status"] == "succeeded"
        # Ended once: no status after the failure.
        statuses = [
            e["data"]["status"] for e in read_events(api, job["id"]) if e["event"] == "status"
        ]
        assert statuses == ["queued", "running", "failed"]


MODEL_TIMEOUT = "[models.noop]\ntimeout_seconds = 1.5\n"


@pytest.mark.backends("sqlite")
def test_a_models_timeout_applies_to_its_jobs_and_bounds_theirs(make_server) -> None:
    """A model's ``timeout_seconds`` is each of its jobs' timeout unless the submit asks for
    less, a vendor dialect's jobs included (Segmind's answer carries the failure); a submit
    that asks for more is refused (422 naming ``timeout``). The model shows its limit."""
    server: GenqServer = make_server(workers=1, toml=MODEL_TIMEOUT, cancel_grace_seconds=1.0)
    with server.client() as api:
        assert api.get("/v1/models/noop").json()["timeout_seconds"] == 1.5
        refused = api.post("/v1/jobs", json={"model": "noop", "input": {}, "timeout": 2})
        assert refused.status_code == 422
        assert refused.json()["error"]["details"][0]["path"] == "timeout"
        assert "1.5 seconds" in refused.json()["error"]["message"]
        shorter = submit(api, {}, timeout=0.5)
        assert shorter["timeout"] == 0.5
        job = submit(api, {"sleep_ms": 30_000, "steps": 300})
        assert job["timeout"] == 1.5
        # A vendor dialect's job gets the model's timeout too, and reads as its failure.
        segmind = httpx.post(
            f"{server.url}/v2/noop",
            headers={"x-api-key": server.key},
            json={"sleep_ms": 30_000, "steps": 300},
        ).json()
        done = wait_for(api, job["id"], timeout=15)
        assert done["status"] == "failed"
        assert done["error"]["code"] == "timeout"
        assert 1.5 <= ran_for(done) < 2.5
        status = poll_status(server, segmind["request_id"], timeout=15)
        assert status["status"] == "FAILED"
        answer = httpx.get(segmind["response_url"], headers={"x-api-key": server.key})
        assert answer.status_code == 422
        assert answer.json()["error"] == "the job ran longer than its timeout of 1.5 seconds"


def in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_deadline", 0),
        ("start_deadline", -5),
        ("start_deadline", True),
        ("start_deadline", "tomorrow"),
        ("start_deadline", "2020-01-01T00:00:00Z"),
        ("start_deadline", "2999-01-01T00:00:00"),
        ("start_deadline", 3 * 86_400),
        ("start_deadline", "2999-01-01T00:00:00Z"),
        ("start_deadline", [60]),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", True),
        ("timeout", "60"),
        ("timeout", 400 * 86_400),
    ],
)
def test_time_limits_are_validated(api: httpx.Client, field: str, value: object) -> None:
    """A start deadline that is not in the future, not a number of seconds or an RFC 3339
    time with its offset, or later than the job's retention; a timeout that is not a positive
    number of seconds up to a year: 422 naming the field, and no job."""
    before = api.get("/v1/jobs", params={"limit": 1}).json()["data"]
    response = api.post("/v1/jobs", json={"model": "noop", "input": {}, field: value})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["path"].split("/")[0] == field
    assert api.get("/v1/jobs", params={"limit": 1}).json()["data"] == before


def test_a_job_shows_its_time_limits(api: httpx.Client) -> None:
    """An RFC 3339 start deadline (any offset) is kept to the millisecond and shown in UTC;
    the timeout as given. A job without limits shows null for both (noop has none)."""
    at = in_an_hour().replace(microsecond=123000)
    local = at.astimezone(UTC).isoformat().replace("+00:00", "+00:00")
    job = submit(api, {}, start_deadline=local, timeout=30)
    assert parsed(job["start_deadline"]) == at
    assert job["start_deadline"].endswith("Z")
    assert job["timeout"] == 30
    plain = submit(api, {})
    assert (plain["start_deadline"], plain["timeout"]) == (None, None)


def test_an_idempotent_replay_must_ask_for_the_same_limits(api: httpx.Client) -> None:
    """The same Idempotency-Key with the same time limits (as written) returns the original
    job; with other limits, 409."""
    headers = {"Idempotency-Key": f"limits-{time.time_ns()}"}
    body = {"model": "noop", "input": {}, "start_deadline": 600, "timeout": 30}
    first = api.post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == 202
    again = api.post("/v1/jobs", json=body, headers=headers)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    other = api.post("/v1/jobs", json={**body, "timeout": 31}, headers=headers)
    assert other.status_code == 409
