"""Running the ``genq`` command in-process against a test server, and the jobs it acts on."""

from __future__ import annotations

from typing import Any

import httpx
from typer.testing import CliRunner, Result

from genq.cli import app
from tests.conftest import GenqServer, wait_for


def genq(server: GenqServer, *args: str, input: str | None = None, **env: str) -> Result:
    """``genq ARGS --url URL --key KEY``, in-process; stderr is not a terminal unless ``env``
    says so (``TTY_COMPATIBLE=1``)."""
    environ = {"TTY_COMPATIBLE": "0", "GENQ_URL": None, "GENQ_API_KEY": None, **env}
    return CliRunner(env=environ).invoke(
        app, [*args, "--url", server.url, "--key", server.key], input=input
    )


def succeeded(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def submit(api: httpx.Client, model: str, **input: Any) -> str:
    response = api.post("/v1/jobs", json={"model": model, "input": input})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def status(api: httpx.Client, job_id: str) -> str:
    return str(api.get(f"/v1/jobs/{job_id}").json()["status"])


def stop(api: httpx.Client, job_id: str) -> None:
    """Cancel a long job and wait for its end, so that its worker is free for the next test."""
    api.post(f"/v1/jobs/{job_id}/cancel")
    wait_for(api, job_id)
