"""Cancel: queued jobs at once, running jobs at their next step or by force."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import read_events, submit, wait_status


# The tests with a server of their own run on SQLite: what cancel asks of the store is
# checked on both by tests/store/test_store_contract.py, and a cancel reaching a running
# job's worker in another process on PostgreSQL by tests/acceptance/test_scale_out.py.
@pytest.mark.backends("sqlite")
def test_cancel_a_queued_job_at_once(make_server) -> None:
    """A queued job is canceled at once; canceling again answers 200 with the same job."""
    server: GenqServer = make_server(workers=0)
    with server.client() as api:
        job = submit(api, {"sleep_ms": 10})
        response = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "canceled"
        again = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert again.status_code == 200
        assert again.json()["status"] == "canceled"
        assert read_events(api, job["id"])[-1]["data"]["status"] == "canceled"


@pytest.mark.backends("sqlite")
def test_cancel_a_running_job_stops_it_at_the_next_step(make_server) -> None:
    """A running job gets cancel_requested and ends canceled well before it would finish,
    stopped by its model at a step boundary: its worker process is not killed."""
    # With a lease of 600 s no heartbeat tells the worker in time: only the cancel message
    # can stop the model before the grace period ends and the worker is killed.
    server: GenqServer = make_server(workers=1, lease_seconds=600, cancel_grace_seconds=1)
    with server.client() as api:
        job = submit(api, {"steps": 200, "sleep_ms": 20_000})
        assert wait_status(api, job["id"], "running")
        [worker] = server.worker_pids()
        response = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["cancel_requested"] is True
        done = wait_for(api, job["id"], timeout=15)
        assert done["status"] == "canceled"
        assert done["progress"]["step"] < 200
        assert done["cost"]["actual"] == 0
        time.sleep(1.5)  # past the grace deadline, when a kill would have come
        assert server.worker_pids() == [worker]


@pytest.mark.backends("sqlite")
def test_a_model_that_ignores_cancel_is_killed_after_the_grace_period(make_server) -> None:
    """A model that ignores the stop request is killed after the grace period; the job ends
    canceled at once (not when its 600 s lease lapses) and a new worker process takes the
    dead one's place."""
    server: GenqServer = make_server(workers=1, cancel_grace_seconds=1.0, lease_seconds=600)
    with server.client() as api:
        job = submit(api, {"sleep_ms": 60_000, "ignore_cancel": True})
        assert wait_status(api, job["id"], "running")
        [worker] = server.worker_pids()
        started = time.monotonic()
        api.post(f"/v1/jobs/{job['id']}/cancel")
        done = wait_for(api, job["id"], timeout=15)
        assert done["status"] == "canceled"
        assert 0.9 < time.monotonic() - started < 30
        assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == "zombie"
        wait_until(lambda: len(server.worker_pids()) == 1 and server.worker_pids() != [worker])
        after = submit(api, {"sleep_ms": 1})
        assert wait_for(api, after["id"], timeout=20)["status"] == "succeeded"


def test_cancel_a_finished_job_is_409(api: httpx.Client) -> None:
    """Canceling a succeeded or failed job answers 409 with its status."""
    for input, status in [({}, "succeeded"), ({"fail": "x"}, "failed")]:
        job = submit(api, input)
        wait_for(api, job["id"])
        response = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "job_not_cancelable"
        assert error["details"]["status"] == status
