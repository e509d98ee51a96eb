"""``genq status``: readiness, workers, models and jobs, and its exit status: 0 ready, 1 not
ready, 2 unreachable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genq.cli.status import disk_space
from tests.conftest import GenqServer, free_port
from tests.tcpproxy import served_through_proxy


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genq", "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.backends("sqlite")
def test_a_ready_server_exits_0_and_shows_what_it_serves(server: GenqServer) -> None:
    """Ready: exit 0, each check, the workers, the models served; --json has the same."""
    shown = status("--url", server.url, "--key", server.key)
    assert shown.returncode == 0, shown.stderr
    assert f"genq at {server.url}: ready" in shown.stdout
    assert "workers   ok (2 alive" in shown.stdout
    assert " GB free" in shown.stdout or " MB free" in shown.stdout  # the storage line's disk
    assert "models served: " in shown.stdout
    assert "noop" in shown.stdout
    as_json = status("--url", server.url, "--key", server.key, "--json")
    report = json.loads(as_json.stdout)
    assert report["ready"] is True
    assert report["readiness"]["checks"]["store"]["ok"] is True
    assert any(m["name"] == "noop" and m["available"] for m in report["models"])


def test_the_storage_line_shows_the_disk_and_whether_jobs_are_refused() -> None:
    """The free space, and a plain warning when it is under the threshold."""
    roomy = {"disk_free_bytes": 2_500_000_000, "disk_min_free_bytes": 1 << 30, "disk_full": False}
    assert disk_space(roomy) == "; disk: 2.5 GB free"
    full = {"disk_free_bytes": 500_000_000, "disk_min_free_bytes": 1 << 30, "disk_full": True}
    assert disk_space(full) == "; disk: 500.0 MB free, under 1.1 GB: NEW JOBS REFUSED"
    assert disk_space({"ok": True}) == ""


def test_queues_then_a_server_that_cannot_reach_its_database_exits_1(tmp_path: Path) -> None:
    """An admin key sees every account's queued jobs per model, another key its own; with its
    PostgreSQL cut off, the server is up but not ready: exit 1, naming the store."""
    with served_through_proxy(tmp_path / "data") as (server, proxy):
        other = server.new_key("someone")
        for key in (server.key, server.key, other):
            with server.client(key) as api:
                submitted = api.post("/v1/jobs", json={"model": "noop", "input": {}})
                assert submitted.status_code == 202, submitted.text
        shown = status("--url", server.url, "--key", server.key)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "  noop: 3 queued, oldest since 20" in shown.stdout
        assert "  noop: 2 / 0" in shown.stdout  # the caller's own: queued / running
        as_other = status("--url", server.url, "--key", other)
        assert "queues: an admin key shows" in as_other.stdout
        assert "  noop: 1 / 0" in as_other.stdout
        proxy.close()
        time.sleep(1.1)  # past the last cached answer
        shown = status("--url", server.url, "--key", server.key)
        assert shown.returncode == 1, shown.stdout + shown.stderr
        assert "NOT READY" in shown.stdout
        assert "store     FAILED" in shown.stdout


def test_an_unreachable_server_exits_2() -> None:
    """Nothing listening: exit 2 at once, without retries."""
    started = time.monotonic()
    shown = status("--url", f"http://127.0.0.1:{free_port()}", "--key", "k")
    assert shown.returncode == 2
    assert "unreachable" in shown.stderr
    assert time.monotonic() - started < 10
