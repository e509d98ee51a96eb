"""`genq jobs list|show|watch|cancel|retry|delete|download` against a real `genq serve`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.cli.invoke import genq, status, stop, submit, succeeded
from tests.conftest import GenqServer, wait_for, wait_until

pytestmark = pytest.mark.backends("sqlite")


def test_jobs_list(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs list` shows the newest jobs in a table; filters and --json work."""
    failed = submit(api, "noop", fail="no")
    done = submit(api, "noop", output_text="x")
    wait_for(api, failed)
    wait_for(api, done)
    table = succeeded(genq(server, "jobs", "list", "--limit", "2")).stdout
    assert done in table
    assert failed in table
    assert "succeeded" in table
    assert "failed" in table
    listed = json.loads(
        succeeded(genq(server, "jobs", "list", "--status", "failed", "--json")).stdout
    )
    assert failed in [job["id"] for job in listed]
    assert {job["status"] for job in listed} == {"failed"}
    listed = json.loads(succeeded(genq(server, "jobs", "list", "--limit", "1", "--json")).stdout)
    assert [job["id"] for job in listed] == [done]
    listed = json.loads(
        succeeded(genq(server, "jobs", "list", "--model", "demo-video", "--json")).stdout
    )
    assert all(job["model"] == "demo-video" for job in listed)


def test_jobs_show(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs show` lists a job's fields and outputs; --json prints the server's JSON."""
    job_id = submit(api, "demo-image", prompt="fog", width=96, height=64)
    wait_for(api, job_id)
    text = succeeded(genq(server, "jobs", "show", job_id)).stdout
    for expected in (job_id, "demo-image", "succeeded", "8/8", '"prompt": "fog"', "image/png"):
        assert expected in text
    assert "96x64" in text
    job = json.loads(succeeded(genq(server, "jobs", "show", job_id, "--json")).stdout)
    assert job.keys() == api.get(f"/v1/jobs/{job_id}").json().keys()
    assert (job["id"], job["status"], job["input"]["prompt"]) == (job_id, "succeeded", "fog")


def test_jobs_show_and_run_show_the_place_in_the_queue(make_server: Any) -> None:
    """While the only worker is busy, `genq jobs show` of a queued job says how many jobs run
    before it, and `genq run` shows its job's place in the queue as it waits."""
    server: GenqServer = make_server(workers=1)
    with server.client() as api:
        blocker = submit(api, "noop", sleep_ms=60_000)
        wait_until(lambda: status(api, blocker) == "running")
        ahead = [submit(api, "noop", sleep_ms=10) for _ in range(2)]
        assert "queued (next)" in succeeded(genq(server, "jobs", "show", ahead[0])).stdout
        assert "queued (1 ahead)" in succeeded(genq(server, "jobs", "show", ahead[1])).stdout

        def release() -> None:
            # Once `genq run` has queued its job, leave it time to read its place (every
            # 0.5 s), then free the worker.
            def queued() -> int:
                return len(api.get("/v1/jobs", params={"status": "queued"}).json()["data"])

            wait_until(lambda: queued() == 3, timeout=60)
            time.sleep(2)
            api.post(f"/v1/jobs/{blocker}/cancel")

        releaser = threading.Thread(target=release)
        releaser.start()
        try:
            result = succeeded(genq(server, "run", "noop", "-i", "sleep_ms=10"))
        finally:
            releaser.join()
    assert "queued (2 ahead)" in result.stderr, result.stderr
    assert " succeeded" in result.stderr


def test_jobs_show_of_a_failed_job_shows_its_error(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs show` of a failed job shows its error message and code."""
    job_id = submit(api, "noop", fail="bad luck")
    wait_for(api, job_id)
    assert "bad luck (model_error)" in succeeded(genq(server, "jobs", "show", job_id)).stdout


def test_jobs_watch_follows_a_job_to_its_end(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs watch` shows the progress until the job ends, then the job."""
    job_id = submit(api, "noop", steps=4, sleep_ms=2000)
    result = succeeded(genq(server, "jobs", "watch", job_id))
    assert f"{job_id}  succeeded  4/4" in result.stderr
    assert "succeeded" in result.stdout
    assert job_id in result.stdout


def test_jobs_watch_exits_1_for_a_failed_job(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs watch --json` prints the job and exits 1 when it failed."""
    job_id = submit(api, "noop", sleep_ms=500, fail="nope")
    result = genq(server, "jobs", "watch", job_id, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"
    assert "nope (model_error)" in result.stderr


def test_jobs_cancel(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs cancel` stops a running job; --json prints the job."""
    job_id = submit(api, "noop", sleep_ms=30000, steps=300)
    wait_until(lambda: status(api, job_id) == "running", timeout=60)
    result = succeeded(genq(server, "jobs", "cancel", job_id))
    assert result.stdout.startswith(f"{job_id}: ")
    assert wait_for(api, job_id)["status"] == "canceled"
    second = submit(api, "noop", sleep_ms=30000, steps=300)
    job = json.loads(succeeded(genq(server, "jobs", "cancel", second, "--json")).stdout)
    assert job["id"] == second
    assert job["status"] == "canceled" or job["cancel_requested"]
    assert wait_for(api, second)["status"] == "canceled"


def test_jobs_delete(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs delete` deletes the job: then it answers 404."""
    first = submit(api, "noop")
    second = submit(api, "noop")
    assert succeeded(genq(server, "jobs", "delete", first)).stdout == f"deleted {first}\n"
    deleted = json.loads(succeeded(genq(server, "jobs", "delete", second, "--json")).stdout)
    assert deleted == {"id": second, "deleted": True}
    for job_id in (first, second):
        assert api.get(f"/v1/jobs/{job_id}").status_code == 404


def test_jobs_download(server: GenqServer, api: httpx.Client, tmp_path: Path) -> None:
    """`genq jobs download` saves a finished job's outputs and prints their paths."""
    job_id = submit(api, "demo-image", prompt="dunes", width=64, height=64, num_images=2)
    wait_for(api, job_id)
    result = succeeded(genq(server, "jobs", "download", job_id, "-o", str(tmp_path / "a")))
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert [p.name for p in paths] == [f"{job_id}-0.png", f"{job_id}-1.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (64, 64)
    job = json.loads(
        succeeded(
            genq(server, "jobs", "download", job_id, "-o", str(tmp_path / "b"), "--json")
        ).stdout
    )
    assert [Path(p).read_bytes() for p in job["files"]] == [p.read_bytes() for p in paths]


def test_jobs_download_of_an_unfinished_job_fails(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs download` of a job that has not finished exits 1 and says so."""
    job_id = submit(api, "noop", sleep_ms=30000, steps=300)
    try:
        result = genq(server, "jobs", "download", job_id)
        assert result.exit_code == 1
        assert f"{job_id} is " in result.stderr
        assert "genq jobs watch" in result.stderr
    finally:
        stop(api, job_id)


def test_jobs_retry(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs retry` runs a failed job again as a new job and prints its id; a job that
    succeeded cannot be retried."""
    job_id = submit(api, "noop", fail="nope")
    wait_for(api, job_id)
    result = succeeded(genq(server, "jobs", "retry", job_id))
    new_id = result.stdout.split(":")[0]
    assert result.stdout.endswith(f"(retry of {job_id})\n")
    assert wait_for(api, new_id)["retry_of"] == job_id
    shown = succeeded(genq(server, "jobs", "show", job_id)).stdout
    assert "retried by" in shown
    assert new_id in shown
    again = json.loads(succeeded(genq(server, "jobs", "retry", new_id, "--json")).stdout)
    assert again["retry_of"] == new_id
    done = submit(api, "noop")
    wait_for(api, done)
    refused = genq(server, "jobs", "retry", done)
    assert refused.exit_code != 0
    assert "succeeded" in refused.stderr
