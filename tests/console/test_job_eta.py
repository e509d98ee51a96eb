"""A queued or running job's live view shows the server's estimate of when it will be done."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import GenqServer, wait_for, wait_until
from tests.console.conftest import Watched

LEFT = re.compile(r"^about \d+ s left$")


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """One worker: a second job waits in the queue."""
    server = GenqServer(tmp_path_factory.mktemp("console-eta") / "data", workers=1).start()
    yield server
    server.close()


def test_a_queued_then_running_job_shows_its_time_left(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """A job queued behind another shows "about N s left" beside its place in the queue,
    then while it runs; nothing once it has ended. Long waits read in minutes."""
    with console_server.client() as api:
        # A job's run time first: the estimate comes from it.
        body = {"model": "noop", "input": {"sleep_ms": 1000}}
        wait_for(api, api.post("/v1/jobs", json=body).json()["id"])
        blocker = api.post("/v1/jobs", json={"model": "noop", "input": {"sleep_ms": 2500}})
        blocker_url = f"/v1/jobs/{blocker.json()['id']}"
        wait_until(lambda: api.get(blocker_url).json()["status"] == "running")
        body = {"model": "noop", "input": {"sleep_ms": 2000, "steps": 10}}
        job_id = api.post("/v1/jobs", json=body).json()["id"]
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs/{job_id}")
    live = page.locator(f"[data-job='{job_id}']")
    expect(live.locator("[data-live-status]")).to_have_text("queued")
    expect(live.locator("[data-queue]")).to_have_text("position 0 in the queue")
    expect(live.locator("[data-eta]")).to_have_text(LEFT)
    expect(live.locator("[data-live-status]")).to_have_text("running", timeout=30_000)
    expect(live.locator("[data-eta]")).to_have_text(LEFT)
    expect(live.locator("[data-live-status]")).to_have_text("succeeded", timeout=30_000)
    expect(live.locator("[data-eta]")).to_have_text("")
    minutes = page.evaluate("import('/console/js/run.js').then((m) => m.etaText(600))")
    assert minutes == "about 10 min left"
