"""PostgreSQL LISTEN/NOTIFY between processes: with the fallback poll at 30 s, only a
notification can wake a worker or a waiter within a test.

Two API processes and one ``genq worker`` share a schema; jobs are submitted to one API and
followed on the other, so every wake-up crosses a process boundary through the database.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.acceptance.test_scale_out import cut_connections
from tests.conftest import wait_until
from tests.http.test_jobs import read_events, submit
from tests.topology import Topology

pytestmark = pytest.mark.slow

#: Longer than any wait below: a waiter that is not notified sees nothing new in time.
POLL = 30
#: A ?wait shorter than the poll: it answers with a finished job only if it was woken.
WAIT = 20


def waited(api: httpx.Client, job_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/jobs/{job_id}", params={"wait": WAIT}).json())


def check_wake_ups(submitter: httpx.Client, follower: httpx.Client) -> None:
    """A job submitted to one API starts on the idle worker and is seen to end by a ?wait and
    an event stream on the other; a cancel sent to the other stops a running job."""
    job = submit(submitter, {"steps": 3, "sleep_ms": 30})
    assert waited(follower, job["id"])["status"] == "succeeded"

    job = submit(submitter, {"steps": 3, "sleep_ms": 30})
    started = time.monotonic()
    events = read_events(follower, job["id"])
    assert [e["data"]["step"] for e in events if e["event"] == "progress"] == [1, 2, 3]
    assert events[-1]["data"]["status"] == "succeeded"
    # Each of those events needed a wake-up: by polling alone they take POLL seconds each.
    assert time.monotonic() - started < POLL

    job = submit(submitter, {"steps": 600, "sleep_ms": 60_000})
    wait_until(lambda: submitter.get(f"/v1/jobs/{job['id']}").json()["status"] == "running")
    assert follower.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    assert waited(submitter, job["id"])["status"] == "canceled"


def test_notifications_wake_workers_and_waiters_across_processes(topology: Any) -> None:
    """With the fallback poll at 30 s, a submit wakes an idle `genq worker`, its news ends a
    ?wait and an event stream on another API process, and a cancel reaches the worker at once,
    also after every database connection has been cut."""
    # A heartbeat every 200 s: no lease renewal tells the worker of the cancel in time.
    topo: Topology = topology(poll_interval_seconds=POLL, lease_seconds=600)
    urls = [topo.start_api(), topo.start_api()]
    with topo.client(urls[0]) as first, topo.client(urls[1]) as second:
        topo.start_worker("--concurrency", "1")
        # The worker claims what is queued when it starts; after that it is idle.
        warm = submit(first, {})
        wait_until(
            lambda: first.get(f"/v1/jobs/{warm['id']}").json()["status"] == "succeeded",
            timeout=60,
        )
        time.sleep(0.5)
        check_wake_ups(first, second)
        check_wake_ups(second, first)

        assert cut_connections(topo.pids()) >= 3
        time.sleep(1)  # the listeners reconnect within moments
        check_wake_ups(first, second)
