"""``eta_seconds`` on a steady workload, with a real server and worker: a queued job's and a
running job's estimate land within ±50 % of when it is really done."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import wait_for, wait_until

pytestmark = pytest.mark.backends("sqlite")


def done_at(job: dict[str, Any]) -> float:
    return datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()


def test_estimates_land_within_half_of_the_real_time(make_server: Any) -> None:
    server = make_server(workers=1)
    body = {"model": "noop", "input": {"sleep_ms": 200}}
    with server.client() as client:
        # A history of run times first.
        for _ in range(3):
            wait_for(client, client.post("/v1/jobs", json=body).json()["id"])
        ids = [client.post("/v1/jobs", json=body).json()["id"] for _ in range(8)]
        read_at = time.time()
        queued = client.get(f"/v1/jobs/{ids[6]}").json()
        assert queued["status"] == "queued"
        eta = queued["eta_seconds"]
        job = wait_for(client, ids[6])
        real = done_at(job) - read_at
        assert 0.5 * real <= eta <= 1.5 * real, (eta, real)
        # A running job, from its progress.
        slow = {"model": "noop", "input": {"sleep_ms": 2000, "steps": 10}}
        job_id = client.post("/v1/jobs", json=slow).json()["id"]
        wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] >= 3)
        read_at = time.time()
        running = client.get(f"/v1/jobs/{job_id}").json()
        eta = running["eta_seconds"]
        real = done_at(wait_for(client, job_id)) - read_at
        assert 0.5 * real <= eta <= 1.5 * real, (eta, real)
        assert "eta_seconds" not in client.get(f"/v1/jobs/{job_id}").json()
