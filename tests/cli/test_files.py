"""Where `genq run` and `genq jobs download` save outputs: the -o folder, made or refused
before anything is submitted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.invoke import genq, submit, succeeded
from tests.conftest import GenqServer, wait_for

pytestmark = pytest.mark.backends("sqlite")


def test_an_output_folder_that_cannot_be_made_fails_before_submitting(
    server: GenqServer, api: httpx.Client, tmp_path: Path
) -> None:
    """`genq run -o DIR` and `genq jobs download -o DIR` with a DIR that cannot be made exit 1
    with one `error:` line, and `run` submits nothing."""
    (tmp_path / "a-file").write_text("")
    blocked = tmp_path / "a-file" / "outputs"
    before = len(api.get("/v1/jobs", params={"limit": 100}).json()["data"])
    result = genq(server, "run", "noop", "-i", "output_text=x", "-o", str(blocked))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: cannot write to {blocked}: Not a directory"]
    assert len(api.get("/v1/jobs", params={"limit": 100}).json()["data"]) == before
    job_id = submit(api, "noop", output_text="x")
    wait_for(api, job_id)
    result = genq(server, "jobs", "download", job_id, "-o", str(blocked))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: cannot write to {blocked}: Not a directory"]


def test_a_missing_output_folder_is_made(server: GenqServer, tmp_path: Path) -> None:
    """`genq run -o DIR` makes DIR and its missing parents, and saves the outputs there."""
    folder = tmp_path / "new" / "nested"
    result = succeeded(genq(server, "run", "noop", "-i", "output_text=made", "-o", str(folder)))
    [path] = [Path(line) for line in result.stdout.splitlines()]
    assert path.parent == folder
    assert path.read_text() == "made"
