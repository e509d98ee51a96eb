"""A dead worker's jobs go back to the queue at once, not when their lease lapses.

The servers here hold leases of 600 s: within a test, a job whose worker died comes back only
if the supervisor takes it back from the dead worker itself.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import submit, timestamp

pytestmark = pytest.mark.slow

LONG_LEASE = 600


def wait_running(api: httpx.Client, job_id: str, attempt: int) -> None:
    """Until the job runs its ``attempt``-th attempt."""

    def running() -> bool:
        job = api.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        return bool(job["status"] == "running" and job["attempts"] == attempt)

    wait_until(running, timeout=30)


def kill_the_worker(server: GenqServer) -> float:
    """SIGKILL the server's only worker process; returns when."""
    [pid] = server.worker_pids()
    os.kill(pid, signal.SIGKILL)
    return time.time()


def test_a_dead_workers_job_is_requeued_at_once(make_server: Any) -> None:
    """A job whose worker is SIGKILLed runs again at once on the replacement worker and
    succeeds; one whose worker is killed max_attempts times fails with worker_lost."""
    server: GenqServer = make_server(workers=1, lease_seconds=LONG_LEASE, max_attempts=2)
    with server.client() as api:
        job = submit(api, {"sleep_ms": 3000, "steps": 30, "output_text": "again"})
        wait_running(api, job["id"], 1)
        killed_at = kill_the_worker(server)
        done = wait_for(api, job["id"], timeout=60)
        assert done["status"] == "succeeded"
        assert done["attempts"] == 2
        assert timestamp(done["started_at"]) - killed_at < 30
        assert api.get(f"/v1/jobs/{job['id']}/outputs/0").text == "again"

        lost = submit(api, {"sleep_ms": 60_000, "steps": 600})
        for attempt in (1, 2):
            wait_running(api, lost["id"], attempt)
            kill_the_worker(server)
        failed = wait_for(api, lost["id"], timeout=30)
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "worker_lost"
        assert failed["attempts"] == 2
        assert failed["cost"]["actual"] == 0

        # The replacement worker runs what comes next.
        after = submit(api, {"output_text": "fine"})
        assert wait_for(api, after["id"], timeout=60)["status"] == "succeeded"
