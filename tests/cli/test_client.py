"""The client commands (``genq run``, ``genq jobs ...``, ``genq models list|show``) against a
real ``genq serve``: in-process with typer's runner, and as a child process where a real
process matters (Ctrl-C, the base install alone)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from genq.cli import app
from genq.cli.client import amount_text, parse_input, price_text
from tests.cli.test_packaging import WITHOUT_SERVER
from tests.conftest import GenqServer, free_port, wait_for, wait_until

pytestmark = pytest.mark.backends("sqlite")


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


# -- genq run ------------------------------------------------------------------------------
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


# -- genq jobs -----------------------------------------------------------------------------
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


# -- genq models ---------------------------------------------------------------------------
def test_models_list(server: GenqServer) -> None:
    """`genq models list` shows every model with its price; --json prints the server's list."""
    table = succeeded(genq(server, "models", "list")).stdout
    for expected in ("demo-image", "noop", "0.0001 per job", "Qwen/Qwen-Image"):
        assert expected in table
    models = json.loads(succeeded(genq(server, "models", "list", "--json")).stdout)
    assert {"demo-image", "noop"} <= {model["name"] for model in models}


def test_amounts_print_as_their_exact_decimal() -> None:
    """Costs and prices print as the decimal their JSON number reads: every digit, no
    exponent."""
    assert amount_text(1e-05) == "0.00001"
    assert amount_text(1.234567) == "1.234567"
    price = {"per_job": 0.0001, "per_output": 0.0, "per_second": 1e-07}
    assert price_text(price) == "0.0001 per job + 0.0000001 per second"


def test_models_show_tabulates_the_input_schema(server: GenqServer) -> None:
    """`genq models show` names each field of the input schema with its type, default and
    limits; an alias works too, and --json prints the server's JSON."""
    text = succeeded(genq(server, "models", "show", "text2image")).stdout
    assert "demo-image" in text
    for field in ("prompt", "aspect_ratio", "width", "num_images", "seed", "output_format"):
        assert field in text
    for expected in ("field", "required", "limits / choices", "1 to 8", "png, jpeg, webp"):
        assert expected in text
    model = json.loads(succeeded(genq(server, "models", "show", "noop", "--json")).stdout)
    assert set(model["input_schema"]["properties"]) >= {"sleep_ms", "steps", "fail"}


# -- errors and configuration --------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("run", "no-such-model"), "model_not_found"),
        (("run", "demo-image", "--input", "width=5"), "validation_error"),
        (("models", "show", "no-such-model"), "model_not_found"),
        (("jobs", "show", "job_nope"), "job_not_found"),
        (("jobs", "watch", "job_nope"), "job_not_found"),
        (("jobs", "cancel", "job_nope"), "job_not_found"),
        (("jobs", "download", "job_nope"), "job_not_found"),
    ],
)
def test_api_errors_exit_1_without_a_traceback(
    server: GenqServer, args: tuple[str, ...], code: str
) -> None:
    """An error answer prints `error: MESSAGE (CODE)` on stderr and exits 1."""
    result = genq(server, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.rstrip().endswith(f"({code})")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def unreachable(*args: str, **env: str) -> Result:
    """``genq ARGS`` against a port nobody listens on."""
    environ = {"TTY_COMPATIBLE": "0", "GENQ_API_KEY": "gq_any", "GENQ_MAX_RETRIES": None, **env}
    return CliRunner(env=environ).invoke(app, [*args, "--url", f"http://127.0.0.1:{free_port()}"])


def test_an_unreachable_server_is_one_line_after_the_retries_asked_for() -> None:
    """With the server down, `--max-retries 1` gives up after one retry with one line naming
    the URL, and says nothing earlier when stderr is not a terminal."""
    started = time.monotonic()
    result = unreachable("jobs", "list", "--max-retries", "1")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot reach genq at http://127.0.0.1:")
    assert line.endswith(": Connection refused (2 attempts)")


def test_commands_go_through_the_environments_proxy() -> None:
    """HTTP_PROXY is honoured, as by any httpx client: the command reaches genq through it."""
    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"object": "list", "data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}", "NO_PROXY": None}
        result = CliRunner(env=env).invoke(
            app, ["models", "list", "--json", "--url", "http://genq.test", "--key", "k"]
        )
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert result.exit_code == 0, result.output
    assert seen == ["http://genq.test/v1/models"]


def test_genq_max_retries_sets_the_retries_and_a_terminal_hears_at_once() -> None:
    """GENQ_MAX_RETRIES=0 fails at the first refused connection; on a terminal, a note says
    at the first refusal that genq cannot be reached and is being retried."""
    result = unreachable("models", "list", GENQ_MAX_RETRIES="0")
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith(": Connection refused (1 attempt)")
    result = unreachable("models", "list", "--max-retries", "1", TTY_COMPATIBLE="1")
    assert result.exit_code == 1
    note, error = result.stderr.splitlines()
    assert note.startswith("cannot reach genq at http://127.0.0.1:")
    assert note.endswith("retrying (--max-retries 1; Ctrl-C to stop)")
    assert error.startswith("error: cannot reach genq at ")


def test_url_and_key_come_from_the_environment(server: GenqServer) -> None:
    """Without --url and --key, GENQ_URL and GENQ_API_KEY name the server and the key."""
    env = {"GENQ_URL": server.url, "GENQ_API_KEY": server.key, "TTY_COMPATIBLE": "0"}
    result = CliRunner(env=env).invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert "noop" in [model["name"] for model in json.loads(result.stdout)]


def test_a_wrong_key_is_an_api_error(server: GenqServer) -> None:
    """A key the server does not know exits 1 with the server's `unauthorized`."""
    result = CliRunner().invoke(app, ["models", "list", "--url", server.url, "--key", "nope"])
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("(unauthorized)")


def test_a_missing_key_says_where_it_looked(server: GenqServer, tmp_path: Path) -> None:
    """Without any key, the command exits 1 and names GENQ_API_KEY and the key file."""
    env = {"GENQ_API_KEY": None, "GENQ_DATA_DIR": str(tmp_path), "GENQ_URL": server.url}
    result = CliRunner(env=env).invoke(app, ["jobs", "list"])
    assert result.exit_code == 1
    assert "GENQ_API_KEY" in result.stderr
    assert str(tmp_path / "api-key") in result.stderr
    assert "(missing_api_key)" in result.stderr


def test_client_commands_work_without_the_server_packages(
    server: GenqServer, tmp_path: Path
) -> None:
    """`genq run` and `genq models list` work with the server's packages unimportable."""
    env = {**os.environ, "GENQ_URL": server.url, "GENQ_API_KEY": server.key}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER, "run", "noop", "-i", "output_text=ok"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    [path] = result.stdout.splitlines()
    assert (tmp_path / path).read_text() == "ok"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER, "models", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "demo-image" in result.stdout
