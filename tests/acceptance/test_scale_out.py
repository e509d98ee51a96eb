"""Scaled out: API processes and worker processes on one PostgreSQL database and one S3 bucket.

- ``genq worker`` serves only the models it is given; a job nobody serves stays queued and says
  so; SIGTERM lets a running job finish; ``--burst`` exits once the queue is empty.
- Two APIs and three workers run 1,000 jobs while workers are killed at random, followed by
  event streams on the other API than the one that took each job.
- The database connections are cut mid-run: everything accepted still finishes, once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import wait_for, wait_until
from tests.pg import POSTGRES_URL
from tests.s3server import S3Server
from tests.topology import Topology, kill_tree

pytestmark = pytest.mark.slow

RECORDER = """
[models.recorder]
entrypoint = "tests.plugins:Recorder"
"""


@pytest.fixture
def topology(tmp_path: Path, s3_server: S3Server) -> Iterator[Any]:
    made: list[Topology] = []

    def make(**settings: Any) -> Topology:
        record = tmp_path / "runs.log"
        topology = Topology(
            tmp_path, s3_server, toml=RECORDER, env={"GENQ_TEST_RECORD": str(record)}, **settings
        )
        made.append(topology)
        return topology

    yield make
    for topology in made:
        topology.close()


def submit(api: httpx.Client, model: str, input: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = api.post("/v1/jobs", json={"model": model, "input": input}, headers=headers)
    assert response.status_code in (200, 202), response.text
    return response.json()


def test_workers_serve_their_models_finish_on_sigterm_and_burst(topology: Any) -> None:
    """A job for a model no worker serves stays queued with a message saying so; a worker for
    that model runs it. SIGTERM lets a running job finish before the worker exits; --burst
    exits once nothing is left."""
    topo: Topology = topology(poll_interval_seconds=0.5, lease_seconds=3)
    url = topo.start_api()
    with topo.client(url) as api:
        image = submit(api, "demo-image", {"prompt": "a kite", "width": 64, "height": 64})
        noop = submit(api, "noop", {"output_text": "first"})
        for job in (image, noop):
            state = api.get(f"/v1/jobs/{job['id']}").json()
            assert state["status"] == "queued"
            assert f"no worker serves model '{job['model']}'" in state["status_message"]

        noop_worker = topo.start_worker("--models", "noop", "--concurrency", "2")
        assert wait_for(api, noop["id"])["status"] == "succeeded"
        assert api.get(f"/v1/jobs/{noop['id']}/outputs/0").text == "first"
        still = api.get(f"/v1/jobs/{image['id']}").json()
        assert still["status"] == "queued"
        assert "no worker serves model 'demo-image'" in still["status_message"]
        another = submit(api, "noop", {"sleep_ms": 60_000}, **{"Prefer": "wait=0"})
        wait_until(lambda: api.get(f"/v1/jobs/{another['id']}").json()["status"] == "running")
        api.post(f"/v1/jobs/{another['id']}/cancel")
        assert wait_for(api, another["id"])["status"] == "canceled"

        # SIGTERM while a job runs: it finishes, then the worker exits cleanly.
        slow = submit(api, "noop", {"sleep_ms": 1500, "output_text": "slow"})
        wait_until(lambda: api.get(f"/v1/jobs/{slow['id']}").json()["status"] == "running")
        noop_worker.send_signal(signal.SIGTERM)
        assert noop_worker.wait(30) == 0
        done = api.get(f"/v1/jobs/{slow['id']}").json()
        assert done["status"] == "succeeded"
        assert done["attempts"] == 1

        # A burst worker for the image model runs what is queued for it, then exits.
        burst = topo.start_worker("--models", "demo-image", "--burst")
        assert burst.wait(60) == 0
        finished = api.get(f"/v1/jobs/{image['id']}").json()
        assert finished["status"] == "succeeded"
        assert finished["outputs"][0]["width"] == 64


def test_unknown_models_for_a_worker_are_refused(topology: Any) -> None:
    """`genq worker --models` with a model the registry does not know exits with a clear error."""
    topo: Topology = topology()
    worker = topo.start_worker("--models", "noop,no-such-model")
    assert worker.wait(30) == 2
    assert "no-such-model" in topo.logs()


def test_two_apis_three_workers_a_thousand_jobs_with_kills(topology: Any, tmp_path: Path) -> None:
    """1,000 jobs submitted round-robin to two APIs, a fifth of them followed live through the
    other API's event stream, while worker processes are SIGKILLed at random (and one whole
    `genq worker` with them): every job succeeds with its own output, none is lost or stuck,
    and no job ran to completion more often than its recorded attempts."""
    topo: Topology = topology(
        lease_seconds=3, max_attempts=20, sweep_interval_seconds=0.5, poll_interval_seconds=1
    )
    urls = [topo.start_api(), topo.start_api()]
    for _ in range(3):
        topo.start_worker()
    total = 1000
    tags = [f"tag-{i}-{uuid.uuid4().hex[:6]}" for i in range(total)]
    stop_killing = threading.Event()
    kills = collections.Counter[str]()

    def killer() -> None:
        rng = random.Random(7)
        # A kill every second or two: each killed process is replaced by a new one, which
        # imports genq afresh for a second of CPU, and kills more often than that left the
        # replacements alone most of the machine.
        while not stop_killing.wait(rng.uniform(1.0, 2.0)):
            children = topo.worker_children()
            if kills["whole"] == 0 and kills["child"] >= 5:
                # Once: a whole `genq worker` (supervisor and children), replaced by a new one;
                # its job comes back when its lease lapses.
                victim = next(p for p in topo.workers if p.poll() is None)
                kill_tree(victim.pid)
                victim.wait()
                topo.start_worker()
                kills["whole"] += 1
            elif children:
                with contextlib.suppress(Exception):
                    rng.choice(children).kill()
                    kills["child"] += 1

    async def run() -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
        headers = {"Authorization": f"Bearer {topo.key}"}
        clients = [httpx.AsyncClient(base_url=u, headers=headers, timeout=120) for u in urls]
        ids: dict[str, str] = {}
        streams: dict[str, list[dict[str, Any]]] = {}
        followers: list[asyncio.Task[None]] = []
        gate = asyncio.Semaphore(16)

        async def follow(job_id: str, client: httpx.AsyncClient) -> None:
            events: list[dict[str, Any]] = []
            streams[job_id] = events
            async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        events.append({"type": line.split(":", 1)[1].strip()})
                    elif line.startswith("data:") and events:
                        events[-1]["data"] = line.split(":", 1)[1].strip()

        async def one(index: int, tag: str) -> None:
            async with gate:
                client = clients[index % 2]
                response = await client.post(
                    "/v1/jobs",
                    json={"model": "recorder", "input": {"tag": tag, "sleep_ms": 5}},
                    headers={"Idempotency-Key": tag},
                )
                assert response.status_code == 202, response.text
                ids[tag] = response.json()["id"]
            if index % 5 == 0:
                other = clients[(index + 1) % 2]
                followers.append(asyncio.create_task(follow(ids[tag], other)))

        try:
            await asyncio.gather(*(one(i, tag) for i, tag in enumerate(tags)))
            await asyncio.wait_for(asyncio.gather(*followers), 240)
        finally:
            for client in clients:
                await client.aclose()
        return ids, streams

    killing = threading.Thread(target=killer)
    killing.start()
    try:
        ids, streams = asyncio.run(run())
        with topo.client(urls[0]) as api:
            # Every job ends: followers saw the end of some; poll the rest.
            deadline = time.monotonic() + 240
            jobs = {}
            for tag, job_id in ids.items():
                jobs[tag] = wait_for(api, job_id, timeout=max(1.0, deadline - time.monotonic()))
    finally:
        stop_killing.set()
        killing.join()
    assert kills["child"] >= 5, kills
    assert kills["whole"] == 1

    assert len(ids) == total
    statuses = collections.Counter(job["status"] for job in jobs.values())
    assert statuses == {"succeeded": total}, (statuses, topo.logs())
    runs = collections.Counter(
        line.split()[0] for line in (tmp_path / "runs.log").read_text().splitlines()
    )
    with topo.client(urls[1]) as api:
        for tag in random.Random(3).sample(tags, 50):
            assert api.get(f"/v1/jobs/{ids[tag]}/outputs/0").text == tag
    for tag, job in jobs.items():
        assert job["outputs"][0]["size"] == len(tag)
        # A run that reached the end but was not recorded (killed just after) made the job
        # run again: each such run counts as an attempt.
        assert 1 <= runs[job["id"]] <= job["attempts"], (tag, job)
    for job_id, events in streams.items():
        kinds = [e["type"] for e in events]
        assert kinds[-1] == "status", (job_id, kinds)
        assert '"succeeded"' in events[-1]["data"]
        assert "output" in kinds
    assert sum(job["attempts"] > 1 for job in jobs.values()) >= 1
    with topo.client(urls[1]) as api:
        unfinished = [
            api.get("/v1/jobs", params={"status": status, "limit": 1}).json()["data"]
            for status in ("queued", "running")
        ]
    assert unfinished == [[], []]


def cut_connections(pids: set[int]) -> int:
    """Terminate every database session of these processes, as a database restart would."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name LIKE 'genq-%%' AND pid <> pg_backend_pid()"
            " AND split_part(application_name, '-', 2)::int = ANY(%s)",
            (sorted(pids),),
        ).fetchall()
    return len(rows)


def test_cut_database_connections_lose_nothing(topology: Any) -> None:
    """While jobs are submitted and run, every database connection of the API and the workers
    is cut, three times, and the API's again and again for a while after each. Submits that
    fail are retried with their Idempotency-Key, and so is one whose answer came: each key
    makes exactly one job, which succeeds, and the event streams and wake-ups recover."""
    topo: Topology = topology(lease_seconds=4, poll_interval_seconds=1)
    url = topo.start_api()
    topo.start_worker("--concurrency", "2")
    [(api_process, _)] = topo.apis
    tags = [f"cut-{i}-{uuid.uuid4().hex[:6]}" for i in range(150)]
    accepted: dict[str, str] = {}
    retries = 0
    cuts = []
    storms: list[threading.Thread] = []

    def storm() -> None:
        # For half a second the API's new sessions are cut too: some submits fail even after
        # the store's own retry on a new connection.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            cut_connections({api_process.pid})
            time.sleep(0.01)

    def post(api: httpx.Client, tag: str) -> httpx.Response:
        return api.post(
            "/v1/jobs",
            json={"model": "recorder", "input": {"tag": tag, "sleep_ms": 20}},
            headers={"Idempotency-Key": tag},
        )

    with topo.client(url) as api:
        for index, tag in enumerate(tags):
            if index in (30, 70, 110):
                cuts.append(cut_connections(topo.pids()))
                # A client that lost the last answer sends it again: the job it made answers.
                replay = post(api, tags[index - 1])
                assert (replay.status_code, replay.json()["id"]) == (200, accepted[tags[index - 1]])
                storms.append(threading.Thread(target=storm))
                storms[-1].start()
            while tag not in accepted:
                with contextlib.suppress(httpx.TransportError):
                    response = post(api, tag)
                    if response.status_code in (200, 202):
                        accepted[tag] = response.json()["id"]
                        continue
                    assert response.status_code == 503, (response.text, topo.logs())
                    assert response.json()["error"]["code"] == "store_unavailable"
                retries += 1
                time.sleep(0.05)
        for thread in storms:
            thread.join()
        # After a cut, wake-ups come back (tests/acceptance/test_notify.py checks that with a
        # fallback poll too slow to stand in for them).
        cuts.append(cut_connections(topo.pids()))
        time.sleep(1)
        last = submit(api, "recorder", {"tag": "after-the-cuts"}, Prefer="wait=20")
        assert last["status"] == "succeeded"
        jobs = {tag: wait_for(api, job_id, timeout=120) for tag, job_id in accepted.items()}
        made = collections.Counter[str]()
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 100, "model": "recorder"}
            if cursor:
                params["cursor"] = cursor
            page = api.get("/v1/jobs", params=params).json()
            made.update(job["input"]["tag"] for job in page["data"])
            if not (cursor := page["next_cursor"]):
                break
    # The API, the worker supervisor and its processes each hold sessions (listeners too).
    assert all(cut >= 2 for cut in cuts), cuts
    assert retries >= 1, "the storms must have made some submits fail"
    assert {job["status"] for job in jobs.values()} == {"succeeded"}, topo.logs()
    assert made == collections.Counter([*tags, "after-the-cuts"]), (retries, made)
    assert len(set(accepted.values())) == len(tags)
    record = Path(topo.env["GENQ_TEST_RECORD"]).read_text().splitlines()
    runs = collections.Counter(line.split()[0] for line in record)
    for job in jobs.values():
        assert 1 <= runs[job["id"]] <= job["attempts"]


def test_one_idempotency_key_across_two_apis_makes_one_job(topology: Any) -> None:
    """Forty submits with one Idempotency-Key, sent at once to two API processes: one job is
    created (202), every other answer replays it (200)."""
    topo: Topology = topology()
    urls = [topo.start_api(), topo.start_api()]
    body = {"model": "noop", "input": {"sleep_ms": 1}}

    async def run() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {topo.key}", "Idempotency-Key": "same-key"}
        clients = [httpx.AsyncClient(base_url=u, headers=headers, timeout=60) for u in urls]
        try:
            return await asyncio.gather(
                *(clients[i % 2].post("/v1/jobs", json=body) for i in range(40))
            )
        finally:
            for client in clients:
                await client.aclose()

    responses = asyncio.run(run())
    codes = collections.Counter(r.status_code for r in responses)
    assert codes == {202: 1, 200: 39}
    assert len({r.json()["id"] for r in responses}) == 1
