"""No lost work: worker processes and the server itself are killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from tests.conftest import GenqServer, wait_for
from tests.http.test_jobs import submit

pytestmark = pytest.mark.slow


def test_jobs_survive_workers_killed_at_random(make_server) -> None:
    """200 jobs of 100-300 ms all succeed while worker processes are SIGKILLed at random."""
    server: GenqServer = make_server(workers=3, max_attempts=50, lease_seconds=5)
    rng = random.Random(1234)
    kills = 0
    stop = threading.Event()

    def killer() -> None:
        nonlocal kills
        while not stop.wait(rng.uniform(0.3, 0.9)):
            pids = server.worker_pids()
            if pids:
                try:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass

    with server.client() as api:
        jobs = [
            submit(api, {"sleep_ms": rng.randint(100, 300), "steps": 3, "output_text": str(i)})
            for i in range(200)
        ]
        thread = threading.Thread(target=killer)
        thread.start()
        try:
            finished = [wait_for(api, job["id"], timeout=240) for job in jobs]
        finally:
            stop.set()
            thread.join()
        assert kills >= 10
        assert [job["status"] for job in finished] == ["succeeded"] * 200
        retried = [job for job in finished if job["attempts"] > 1]
        assert retried, "some jobs must have been running when their worker was killed"
        for i, job in enumerate(finished):
            [output] = job["outputs"]
            assert api.get(f"/v1/jobs/{job['id']}/outputs/0").text == str(i)
            assert output["size"] == len(str(i))
        assert api.get("/v1/jobs", params={"status": "running"}).json()["data"] == []
        assert api.get("/v1/jobs", params={"status": "queued"}).json()["data"] == []


def test_killed_server_finishes_every_accepted_job_after_restart(make_server) -> None:
    """SIGKILL of genq serve (and its workers) with jobs queued and running: a restart on the
    same data dir finishes every one of them."""
    server: GenqServer = make_server(workers=1, lease_seconds=2)
    with server.client() as api:
        jobs = [submit(api, {"sleep_ms": 150, "output_text": f"job {i}"}) for i in range(30)]
        deadline = time.monotonic() + 10
        while api.get(f"/v1/jobs/{jobs[0]['id']}").json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    server.kill()
    server.start()
    with server.client() as api:
        finished = [wait_for(api, job["id"], timeout=60) for job in jobs]
    assert [job["status"] for job in finished] == ["succeeded"] * 30
    for i, job in enumerate(finished):
        assert job["outputs"][0]["size"] == len(f"job {i}")


def test_sigterm_lets_running_jobs_finish_and_keeps_queued_ones(make_server) -> None:
    """SIGTERM stops genq serve gracefully: the running job finishes, queued jobs wait for
    the next start, which runs them."""
    server: GenqServer = make_server(workers=1, cancel_grace_seconds=5)
    with server.client() as api:
        running = submit(api, {"sleep_ms": 800, "output_text": "first"})
        queued = [submit(api, {"sleep_ms": 10}) for _ in range(3)]
        deadline = time.monotonic() + 10
        while api.get(f"/v1/jobs/{running['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    server.stop()
    server.start()
    with server.client() as api:
        first = wait_for(api, running["id"])
        assert first["status"] == "succeeded"
        assert first["attempts"] == 1  # finished during shutdown, not run again
        for job in queued:
            assert wait_for(api, job["id"])["status"] == "succeeded"
