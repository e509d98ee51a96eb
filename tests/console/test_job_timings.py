"""A job's page shows how long its worker spent loading the model, when it had to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import GenqServer, wait_for
from tests.console.conftest import Watched


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """One worker process and a model that takes a while to load."""
    toml = '[models.slow]\nentrypoint = "tests.plugins:SlowLoad"\n'
    directory = tmp_path_factory.mktemp("console-timings")
    server = GenqServer(directory / "data", toml=toml, workers=1).start()
    yield server
    server.close()


def test_the_load_time_shows_for_the_job_that_waited_for_it(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """The job that loaded the model shows "Loaded model in" with its load time beside
    "Ran for"; the next job of the model on that worker has no such line."""
    with console_server.client() as api:
        jobs = []
        for _ in range(2):
            job = api.post("/v1/jobs", json={"model": "slow", "input": {}}).json()
            jobs.append(wait_for(api, job["id"]))
    first, second = jobs
    load_time = first["metrics"]["load_time"]
    assert load_time is not None
    assert second["metrics"]["load_time"] is None
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs/{first['id']}")
    expect(page.locator("[data-fact='loaded model in']")).to_have_text(f"{load_time:.2f} s")
    expect(page.locator("[data-fact='ran for']")).to_be_visible()
    page.goto(f"{signed_in.origin}/#/jobs/{second['id']}")
    expect(page.locator("main h1")).to_have_text(second["id"])
    expect(page.locator("[data-fact='ran for']")).to_be_visible()
    expect(page.locator("[data-fact='loaded model in']")).to_have_count(0)
