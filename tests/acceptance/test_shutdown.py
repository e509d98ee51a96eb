"""SIGTERM: running jobs get the grace period to finish, those still running after it are
killed and handed back to the queue, and queued jobs wait for the next start.

Leases here last 600 s, so a job comes back within a test only because shutdown handed it
back, not because its lease lapsed.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import httpx
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import submit, timestamp
from tests.topology import Topology

pytestmark = pytest.mark.slow

LONG_LEASE = 600


def job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/jobs/{job_id}").json())


# The supervisor and its store calls are those of genq worker, tested below on PostgreSQL.
@pytest.mark.backends("sqlite")
def test_sigterm_of_genq_serve_hands_back_a_job_that_outlasts_the_grace(
    make_server: Any,
) -> None:
    """SIGTERM of genq serve: a job still running after the grace period is killed and handed
    back, queued jobs are not started; the next start runs them all."""
    server: GenqServer = make_server(workers=1, cancel_grace_seconds=1, lease_seconds=LONG_LEASE)
    with server.client() as api:
        long = submit(api, {"sleep_ms": 4000, "steps": 40, "output_text": "long"})["id"]
        wait_until(lambda: job(api, long)["status"] == "running")
        queued = [submit(api, {"sleep_ms": 10, "output_text": str(i)})["id"] for i in range(3)]
    server.stop()
    restarted_at = time.time()
    server.start()
    with server.client() as api:
        handed_back = wait_for(api, long, timeout=40)
        assert (handed_back["status"], handed_back["attempts"]) == ("succeeded", 2)
        assert timestamp(handed_back["started_at"]) > restarted_at
        assert api.get(f"/v1/jobs/{long}/outputs/0").text == "long"
        for i, job_id in enumerate(queued):
            kept = wait_for(api, job_id)
            assert (kept["status"], kept["attempts"]) == ("succeeded", 1)
            # Not run while the server was shutting down.
            assert timestamp(kept["started_at"]) > restarted_at
            assert api.get(f"/v1/jobs/{job_id}/outputs/0").text == str(i)


def test_sigterm_of_genq_worker_hands_back_a_job_and_claims_no_more(topology: Any) -> None:
    """SIGTERM of `genq worker`: a worker freed during the grace period claims no queued
    job, a job still running after it is killed and at once back in the queue, and the next
    worker runs them all."""
    topo: Topology = topology(cancel_grace_seconds=2, lease_seconds=LONG_LEASE)
    url = topo.start_api()
    with topo.client(url) as api:
        worker = topo.start_worker("--concurrency", "2")
        long = submit(api, {"sleep_ms": 6000, "steps": 60, "output_text": "long"})["id"]
        freed = submit(api, {"sleep_ms": 60_000, "steps": 600})["id"]
        wait_until(lambda: {job(api, long)["status"], job(api, freed)["status"]} == {"running"})
        queued = [submit(api, {"output_text": str(i)})["id"] for i in range(2)]
        worker.send_signal(signal.SIGTERM)
        # The API still answers: stopping this job frees its worker process mid-grace.
        api.post(f"/v1/jobs/{freed}/cancel")
        assert worker.wait(30) == 0, topo.logs()
        assert job(api, freed)["status"] == "canceled"
        back = job(api, long)
        assert (back["status"], back["attempts"]) == ("queued", 1), back
        for job_id in queued:
            assert (job(api, job_id)["status"], job(api, job_id)["attempts"]) == ("queued", 0)

        topo.start_worker("--concurrency", "2")
        done = wait_for(api, long, timeout=60)
        assert (done["status"], done["attempts"]) == ("succeeded", 2)
        assert api.get(f"/v1/jobs/{long}/outputs/0").text == "long"
        for i, job_id in enumerate(queued):
            assert wait_for(api, job_id)["status"] == "succeeded"
            assert api.get(f"/v1/jobs/{job_id}/outputs/0").text == str(i)
