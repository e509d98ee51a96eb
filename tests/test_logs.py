"""genq's log: the format chosen by option or environment, JSON lines with the context of the
request or job that wrote them, in the API process and in its worker processes."""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from genq import logs
from tests.conftest import Backend, GenqServer, wait_until


def test_the_format_comes_from_the_option_else_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--log-format`` wins over GENQ_LOG_FORMAT; text by default; others are refused."""
    monkeypatch.delenv(logs.FORMAT_VARIABLE, raising=False)
    assert logs.log_format() == "text"
    monkeypatch.setenv(logs.FORMAT_VARIABLE, "JSON")
    assert logs.log_format() == "json"
    assert logs.log_format("text") == "text"
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        logs.log_format("xml")


def test_a_json_line_carries_the_context_that_is_set() -> None:
    """time, level, logger and message always; job_id, model, account, request_id when set;
    the traceback of an exception as one field."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter({"worker": "w-1"}))
    logger = logging.getLogger("genq.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("plain %s", "line")
        token = logs.job_id.set("job_1")
        model = logs.model.set("noop")
        try:
            raise RuntimeError("broken")
        except RuntimeError:
            logger.exception("with a job")
        finally:
            logs.job_id.reset(token)
            logs.model.reset(model)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    plain, with_job = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(plain) == {"time", "level", "logger", "message", "worker"}
    assert plain["message"] == "plain line"
    assert with_job["job_id"] == "job_1"
    assert with_job["model"] == "noop"
    assert "RuntimeError: broken" in with_job["exception"]


def test_library_warnings_are_kept_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After setup, torchvision's image-extension warning and the model libraries'
    deprecation warnings are not logged; genq's own warnings are, as JSON lines."""
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
        # Set, then unset: both undone after the test, which removes what setup sets.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # not pytest's errors: the log is what is checked
        logs.setup("json")
        try:
            warnings.warn_explicit(
                "Failed to load image Python extension: libc10.so",
                UserWarning,
                "image.py",
                1,
                module="torchvision.io.image",
            )
            warnings.warn_explicit(
                "`x` is deprecated", FutureWarning, "utils.py", 1, module="transformers.utils"
            )
            warnings.warn_explicit("genq's own", UserWarning, "x.py", 1, module="genq.x")
        finally:
            logging.captureWarnings(False)
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
    logged = [json.loads(line)["message"] for line in capsys.readouterr().err.splitlines()]
    assert logged == ["x.py:1: UserWarning: genq's own\n"]


def test_serve_and_its_workers_write_json_lines(tmp_path: Path) -> None:
    """``genq serve`` with GENQ_LOG_FORMAT=json: every line of its log is one JSON object, and
    a worker's line about a failing job carries its job_id, model and account."""
    server = GenqServer(tmp_path / "data", backend=Backend("sqlite"), workers=1)
    server.env[logs.FORMAT_VARIABLE] = "json"
    server.log_level = "INFO"
    server.start()
    try:
        with server.client() as api:
            job = api.post("/v1/jobs", json={"model": "noop", "input": {"fail": "on purpose"}})
            job_id = job.json()["id"]

        def failed_line() -> dict[str, Any] | None:
            for line in lines(server):
                if line.get("job_id") == job_id and "failed" in line["message"]:
                    return line
            return None

        wait_until(lambda: failed_line() is not None)
        line = failed_line()
        assert line is not None
        assert line["model"] == "noop"
        assert line["account"]
        assert line["worker"]
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
    # Every line, the worker's and uvicorn's included, is JSON (the banner is stdout's).
    assert any(line["logger"].startswith("uvicorn") for line in lines(server))


def lines(server: GenqServer) -> list[dict[str, Any]]:
    found = []
    for text in server.log.read_text().splitlines():
        if text.startswith("{"):
            found.append(json.loads(text))
        else:
            assert not text.startswith(("INFO", "WARNING", "ERROR", "20")), text
    return found


def test_model_libraries_are_told_to_keep_quiet() -> None:
    """Once diffusers is loaded, its progress bars ("Loading pipeline components") and the
    Hub's are off and its own log is at ERROR; restored after the test."""
    diffusers = pytest.importorskip("diffusers")
    import huggingface_hub

    library_log = diffusers.utils.logging
    level = library_log.get_verbosity()
    try:
        logs.quiet_loaded_libraries()
        assert not library_log.is_progress_bar_enabled()
        assert huggingface_hub.utils.are_progress_bars_disabled()
        assert library_log.get_verbosity() == logging.ERROR
    finally:
        library_log.enable_progress_bar()
        library_log.set_verbosity(level)
        if huggingface_hub.constants.HF_HUB_DISABLE_PROGRESS_BARS is not True:
            huggingface_hub.utils.enable_progress_bars()  # else the environment turned them off
