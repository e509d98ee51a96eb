"""No lost work: worker processes and the server itself are killed with SIGKILL mid-run."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import submit
from tests.s3server import S3Server
from tests.topology import Topology

pytestmark = pytest.mark.slow


# On PostgreSQL, test_scale_out's thousand jobs check the same: worker processes of the same
# supervisor (genq worker's) killed at random, every job done once with its own output.
@pytest.mark.backends("sqlite")
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


#: The job orphaned workers hold: longer than the 5 s they have to exit, so that an orphan
#: that ran it to its end would be caught (and its second run is this long again).
JOB_MS = 8_000


def gone(process: psutil.Process) -> bool:
    """Exited (a zombie nobody has reaped yet counts as exited)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_workers_exit(workers: list[psutil.Process], within: float) -> None:
    """Every one of ``workers`` exits within ``within`` seconds (those left are killed)."""
    try:
        wait_until(lambda: all(gone(p) for p in workers), timeout=within)
    finally:
        for process in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


# On PostgreSQL, the test below checks the same orphaned workers handing their job back
# through the store, under a killed `genq worker`.
@pytest.mark.backends("sqlite")
def test_workers_of_a_killed_server_exit_at_once_and_hand_their_job_back(make_server) -> None:
    """SIGKILL of genq serve alone: its workers exit within seconds, before their job would
    end, and a restart runs the job again at once (not after its lease lapses)."""
    server: GenqServer = make_server(workers=2, lease_seconds=120)
    with server.client() as api:
        job = submit(api, {"sleep_ms": JOB_MS, "steps": 80, "output_text": "again"})
        wait_until(lambda: api.get(f"/v1/jobs/{job['id']}").json()["status"] == "running")
    assert server.process is not None
    workers = [psutil.Process(pid) for pid in server.worker_pids()]
    assert len(workers) == 2
    server.process.kill()
    server.process.wait()
    server.process = None
    assert_workers_exit(workers, within=5)
    server.start()
    with server.client() as api:
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] in ("queued", "running")
        finished = wait_for(api, job["id"], timeout=60)
    assert finished["status"] == "succeeded"
    assert finished["attempts"] == 2
    assert finished["outputs"][0]["size"] == len("again")


def test_workers_of_a_killed_genq_worker_exit_at_once(tmp_path: Path, s3_server: S3Server) -> None:
    """SIGKILL of a `genq worker` supervisor alone: its worker processes exit within seconds,
    and the job they held is run again by the next `genq worker`."""
    topo = Topology(tmp_path, s3_server, lease_seconds=120)
    try:
        url = topo.start_api()
        supervisor = topo.start_worker("--concurrency", "2")
        with topo.client(url) as api:
            job = submit(api, {"sleep_ms": JOB_MS, "steps": 80, "output_text": "again"})
            wait_until(lambda: api.get(f"/v1/jobs/{job['id']}").json()["status"] == "running")
            workers = [p for p in topo.worker_children() if "spawn_main" in " ".join(p.cmdline())]
            assert len(workers) == 2
            supervisor.kill()
            supervisor.wait()
            assert_workers_exit(workers, within=5)
            topo.start_worker()
            finished = wait_for(api, job["id"], timeout=60)
        assert finished["status"] == "succeeded"
        assert finished["attempts"] == 2
    finally:
        topo.close()
