"""Fair shares with real worker processes (``genq.store.fair``), on each backend: a small
account's jobs start ahead of another's large backlog; weights 3:1 share the workers' time
3:1; a priority job jumps both; an aged low-priority job still runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import pytest

from genq.settings import Settings
from genq.store import open_store
from tests.conftest import GenqServer, wait_until

#: About 50 ms of worker time per job.
JOB = {"model": "noop", "input": {"sleep_ms": 50}}


def submit(client: httpx.Client, n: int, **body: Any) -> list[str]:
    ids = []
    for _ in range(n):
        answer = client.post("/v1/jobs", json={**JOB, **body})
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def jobs(client: httpx.Client, ids: Sequence[str]) -> list[dict[str, Any]]:
    return [client.get(f"/v1/jobs/{job_id}").json() for job_id in ids]


def at(stamp: str | None) -> float:
    assert stamp is not None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def ended(client: httpx.Client, ids: Sequence[str]) -> bool:
    return all(job["status"] == "succeeded" for job in jobs(client, ids))


def set_weight(server: GenqServer, account_id: str, weight: float) -> None:
    db = {"db": server.settings["db"]} if "db" in server.settings else {}
    store = open_store(Settings(data_dir=server.data_dir, **db).db_url)
    try:
        assert store.set_account_limits(account_id, {"weight": weight}) is not None
    finally:
        store.close()


def test_a_small_account_starts_ahead_of_a_backlog(make_server: Any) -> None:
    """A queues 80 jobs; then B queues 5: B's jobs all start before A's 15th job after B's
    submit, while A's backlog is still far from done."""
    server = make_server(workers=2)
    b_key = server.new_key("b")
    with server.client() as a, server.client(b_key) as b:
        backlog = submit(a, 80)
        wait_until(lambda: a.get(f"/v1/jobs/{backlog[3]}").json()["status"] != "queued")
        submitted = time.time()
        mine = submit(b, 5)
        wait_until(lambda: ended(b, mine), timeout=30)
        # Read at once: A's backlog goes on draining meanwhile.
        queued = a.get("/v1/jobs", params={"status": "queued", "limit": 100}).json()["data"]
        last_start = max(at(job["started_at"]) for job in jobs(b, mine))
        theirs = [
            job
            for job in jobs(a, backlog)
            if job["started_at"] is not None and submitted <= at(job["started_at"]) < last_start
        ]
        assert len(theirs) < 15, len(theirs)
        assert len(queued) > 30


@pytest.mark.backends("sqlite")
def test_weights_share_the_workers_time(make_server: Any) -> None:
    """Accounts of weights 3 and 1, both with more work than the workers can do: while both
    wait, they get worker time within 10 % of 3:1."""
    server = make_server(workers=2)
    light_key = server.new_key("light")
    with server.client() as heavy, server.client(light_key) as light:
        heavy_account = heavy.get("/v1/account").json()["id"]
        set_weight(server, heavy_account, 3.0)
        heavy_ids = submit(heavy, 80)
        light_ids = submit(light, 80)
        # Until the heavy account's backlog ends: both wait the whole window.
        wait_until(lambda: ended(heavy, heavy_ids[-1:]), timeout=60)
        done = {
            name: [job for job in jobs(client, ids) if job["finished_at"] is not None]
            for name, client, ids in (("heavy", heavy, heavy_ids), ("light", light, light_ids))
        }
    window_end = min(max(at(j["finished_at"]) for j in done[n]) for n in done)
    spent = {
        name: sum(
            min(at(j["finished_at"]), window_end) - at(j["started_at"])
            for j in found
            if at(j["started_at"]) < window_end
        )
        for name, found in done.items()
    }
    ratio = spent["heavy"] / spent["light"]
    assert 2.7 <= ratio <= 3.3, (ratio, spent)


@pytest.mark.backends("sqlite")
def test_a_priority_jumps_both_and_an_aged_job_still_runs(make_server: Any) -> None:
    """Behind two accounts' backlogs, a priority 10 job starts within a job slot of its
    submit; a third account's priority -5 job, lifted a level a second, runs about five
    seconds later, long before the backlogs end."""
    server = make_server(workers=1, fair_share_aging_seconds=1.0)
    b_key, c_key = server.new_key("b"), server.new_key("c")
    with server.client() as a, server.client(b_key) as b, server.client(c_key) as c:
        submit(a, 80)
        backlog = submit(b, 80)
        wait_until(lambda: b.get(f"/v1/jobs/{backlog[2]}").json()["status"] != "queued")
        [low] = submit(c, 1, priority=-5)
        submitted = time.time()
        [urgent] = submit(b, 1, priority=10)
        wait_until(lambda: ended(b, [urgent]), timeout=10)
        [job] = jobs(b, [urgent])
        # At most the job running at its submit, and the claim under way then.
        assert at(job["started_at"]) - submitted < 0.5
        wait_until(lambda: ended(c, [low]), timeout=30)
        [aged] = jobs(c, [low])
        assert 4 < at(aged["started_at"]) - submitted < 8
        queued = b.get("/v1/jobs", params={"status": "queued", "limit": 100}).json()["data"]
        assert len(queued) > 10
