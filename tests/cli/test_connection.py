"""How the client commands reach the server: API errors, an unreachable server and its
retries, the proxy, the URL and key from the environment, and the base install alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from genq.cli import app
from tests.cli.invoke import genq
from tests.cli.test_packaging import WITHOUT_SERVER
from tests.conftest import GenqServer, free_port

pytestmark = pytest.mark.backends("sqlite")


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
