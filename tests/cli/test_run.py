"""`genq run` against a real `genq serve`: inputs, progress, JSON for scripts, failures, and
Ctrl-C in a child process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from genq.cli.progress import eta_text
from genq.cli.run import parse_input
from tests.cli.invoke import genq, status, stop, succeeded
from tests.conftest import GenqServer, wait_for, wait_until

pytestmark = pytest.mark.backends("sqlite")


def test_run_with_input_pairs_saves_the_images(server: GenqServer, tmp_path: Path) -> None:
    """`genq run demo-image --input ...` saves each image in -o DIR and prints its path."""
    result = succeeded(
        genq(
            server,
            "run",
            "demo-image",
            "--input",
            "prompt=a lighthouse at dusk",
            "--input",
            "num_images=2",
            "-i",
            "width=96",
            "-i",
            "height=64",
            "-o",
            str(tmp_path),
        )
    )
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 2
    for path in paths:
        assert path.parent == tmp_path
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == (96, 64)
    assert "submitted job_" in result.stderr


def test_run_reads_the_input_from_a_json_file(server: GenqServer, tmp_path: Path) -> None:
    """`--json FILE` gives the whole input and `--input` pairs override its fields."""
    file = tmp_path / "input.json"
    file.write_text(json.dumps({"prompt": "rain", "width": 80, "height": 80, "num_images": 3}))
    out = tmp_path / "out"
    result = succeeded(
        genq(
            server,
            "run",
            "demo-image",
            "--json",
            str(file),
            "--input",
            "output_format=jpeg",
            "--input",
            "num_images=1",
            "-o",
            str(out),
        )
    )
    [path] = [Path(line) for line in result.stdout.splitlines()]
    assert path.suffix == ".jpg"
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert image.size == (80, 80)


def test_run_reads_the_input_from_stdin(server: GenqServer, tmp_path: Path) -> None:
    """`--json -` reads the input object from stdin."""
    result = succeeded(
        genq(
            server, "run", "noop", "--json", "-", "-o", str(tmp_path), input='{"output_text": "hi"}'
        )
    )
    [path] = [Path(line) for line in result.stdout.splitlines()]
    assert path.read_text() == "hi"


def test_input_values_are_json_when_they_parse() -> None:
    """`--input` values that parse as JSON become numbers, booleans, lists, null; others
    stay text, and only the first `=` splits."""
    pairs = ["n=3", "x=0.5", "on=true", "xs=[1, 2]", "none=null", "seed=007", "p=a cat", "q=a=b"]
    assert parse_input(pairs, None) == {
        "n": 3,
        "x": 0.5,
        "on": True,
        "xs": [1, 2],
        "none": None,
        "seed": "007",
        "p": "a cat",
        "q": "a=b",
    }


def test_a_malformed_input_is_a_usage_error(server: GenqServer, tmp_path: Path) -> None:
    """An `--input` without `=`, or a `--json` file that is not an object, exits 2 naming it."""
    result = genq(server, "run", "noop", "--input", "steps")
    assert result.exit_code == 2
    assert "--input takes KEY=VALUE, not 'steps'" in result.stderr
    file = tmp_path / "list.json"
    file.write_text("[1, 2]")
    result = genq(server, "run", "noop", "--json", str(file))
    assert result.exit_code == 2
    assert "must be a JSON object" in result.stderr


def test_run_shows_the_progress(server: GenqServer) -> None:
    """Off a terminal, `genq run` writes a line per status and the job's step / total."""
    result = succeeded(
        genq(server, "run", "noop", "--input", "steps=6", "--input", "sleep_ms=6000")
    )
    lines = result.stderr.splitlines()
    assert lines[0].startswith("submitted job_")
    # A progress line comes at most every 2 s: at least one falls within the job's 6 s.
    assert any(" running  " in line and "/6  " in line for line in lines), result.stderr
    assert any(" succeeded  6/6  " in line for line in lines), result.stderr
    assert result.stdout == ""


@pytest.mark.backends("sqlite", "postgres")
def test_run_shows_how_long_a_queued_job_has_left(make_server: Any) -> None:
    """A job queued behind another shows the server's estimate ("about N s left") beside its
    place in the queue, once the model has run a job to estimate from."""
    server: GenqServer = make_server(workers=1)
    with server.client() as client:
        # A job's run time first: the estimate comes from it.
        body = {"model": "noop", "input": {"sleep_ms": 1500}}
        wait_for(client, client.post("/v1/jobs", json=body).json()["id"])
        blocker = client.post("/v1/jobs", json=body).json()["id"]
        wait_until(lambda: status(client, blocker) == "running", timeout=60)
        result = succeeded(genq(server, "run", "noop", "--input", "sleep_ms=100"))
    queued = [line for line in result.stderr.splitlines() if " queued (next)  " in line]
    assert any(re.search(r"  about \d+ s left  \d:\d\d:\d\d$", line) for line in queued), (
        result.stderr
    )


def test_the_estimate_reads_in_seconds_minutes_or_hours() -> None:
    """The time left is rounded up, in seconds up to 90 s and minutes up to 90 min; an
    unknown or spent estimate shows nothing."""
    assert eta_text(12.2) == "about 13 s left"
    assert eta_text(200) == "about 4 min left"
    assert eta_text(3 * 3600) == "about 3 h left"
    assert eta_text(None) == eta_text(0) == eta_text(-1) == ""


def test_run_draws_a_progress_bar_on_a_terminal(server: GenqServer) -> None:
    """On a terminal, `genq run` draws a live progress bar with the step / total."""
    result = succeeded(
        genq(server, "run", "noop", "-i", "steps=4", "-i", "sleep_ms=2000", TTY_COMPATIBLE="1")
    )
    assert "\x1b[" in result.stderr
    assert "4/4" in result.stderr
    assert "succeeded" in result.stderr


def test_run_prints_json_for_scripts(server: GenqServer, tmp_path: Path) -> None:
    """`--print-json` prints the finished job's JSON with the saved files under "files"."""
    result = succeeded(
        genq(server, "run", "noop", "-i", "output_text=hello", "-o", str(tmp_path), "--print-json")
    )
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded"
    assert job["model"] == "noop"
    [path] = job["files"]
    assert Path(path).read_text() == "hello"
    assert result.stderr == ""


def test_a_failing_job_exits_1_with_its_error(server: GenqServer) -> None:
    """`genq run` of a job that fails exits 1 and prints the job's error."""
    result = genq(server, "run", "noop", "--input", "fail=the model broke")
    assert result.exit_code == 1
    assert "failed: the model broke (model_error)" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


# -- Ctrl-C --------------------------------------------------------------------------------
def interrupt_run(server: GenqServer, api: httpx.Client, answer: str | None) -> tuple[str, str]:
    """Start `genq run` of a long job as a process, send it SIGINT once the job runs, answer
    the prompt (None: close stdin); return the job's id and the process's stderr."""
    before = {job["id"] for job in api.get("/v1/jobs", params={"limit": 100}).json()["data"]}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "genq", "run", "noop"),
            *("--input", "sleep_ms=30000", "--input", "steps=300"),
            *("--url", server.url, "--key", server.key),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run started in the background has SIGINT ignored, which children inherit.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        running: list[str] = []

        def started() -> bool:
            page = api.get("/v1/jobs", params={"status": "running", "model": "noop"}).json()
            running[:] = [job["id"] for job in page["data"] if job["id"] not in before]
            return bool(running)

        wait_until(started, timeout=60, interval=0.2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(answer or "", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    return running[0], stderr


def test_ctrl_c_then_c_cancels_the_job(server: GenqServer, api: httpx.Client) -> None:
    """Ctrl-C during `genq run`, answered with "c", cancels the job and prints its id."""
    job_id, stderr = interrupt_run(server, api, "c\n")
    assert f"{job_id}: cancel" in stderr
    assert wait_for(api, job_id)["status"] == "canceled"


@pytest.mark.parametrize("answer", [None, "l\n"], ids=["eof", "leave"])
def test_ctrl_c_otherwise_leaves_the_job_running(
    server: GenqServer, api: httpx.Client, answer: str | None
) -> None:
    """Ctrl-C during `genq run`, answered with anything but "c" (or not at all), leaves the
    job running and prints how to follow it."""
    job_id, stderr = interrupt_run(server, api, answer)
    try:
        assert f"genq jobs watch {job_id}" in stderr
        assert status(api, job_id) == "running"
    finally:
        stop(api, job_id)
