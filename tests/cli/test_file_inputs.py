"""Local files as ``--input KEY=@PATH`` and text outputs printed by ``genq jobs show``, against
a real ``genq serve`` (noop writes its ``output_text`` input as a text/plain output)."""

from __future__ import annotations

import base64
import json
import wave
from pathlib import Path

import httpx
import pytest

from genq.cli.render import SHOWN_TEXT_BYTES
from genq.cli.run import parse_input
from genq.client._files import MAX_FILE_BYTES
from tests.cli.invoke import genq, submit, succeeded
from tests.conftest import GenqServer, wait_for

pytestmark = pytest.mark.backends("sqlite")


def wav_file(path: Path) -> bytes:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * 80)
    return path.read_bytes()


def test_an_at_path_value_is_the_file_as_a_data_uri(tmp_path: Path) -> None:
    """``KEY=@PATH`` reads the file and gives its bytes as a data URI typed from the bytes;
    a JSON-quoted ``"@..."`` stays text."""
    data = wav_file(tmp_path / "speech.wav")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    parsed = parse_input(
        [f"audio=@{tmp_path / 'speech.wav'}", f"image=@{photo}", 'prompt="@everyone"'], None
    )
    assert parsed["audio"] == "data:audio/wav;base64," + base64.b64encode(data).decode()
    assert parsed["image"].startswith("data:image/png;base64,")
    assert parsed["prompt"] == "@everyone"


def test_an_at_path_may_start_at_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``@~/speech.wav``: the shell does not expand a ~ after ``KEY=@``, so genq does."""
    monkeypatch.setenv("HOME", str(tmp_path))
    data = wav_file(tmp_path / "speech.wav")
    parsed = parse_input(["audio=@~/speech.wav"], None)
    assert parsed["audio"] == "data:audio/wav;base64," + base64.b64encode(data).decode()


def test_run_sends_a_local_file(server: GenqServer, tmp_path: Path) -> None:
    """`genq run noop -i output_text=@notes.txt` submits the file; noop writes it back."""
    notes = tmp_path / "notes.txt"
    notes.write_text("from a file")
    out = tmp_path / "out"
    result = succeeded(
        genq(server, "run", "noop", "-i", f"output_text=@{notes}", "-o", str(out), "--print-json")
    )
    job = json.loads(result.stdout)
    uri = "data:text/plain;base64," + base64.b64encode(b"from a file").decode()
    assert job["input"]["output_text"] == uri
    [saved] = job["files"]
    assert Path(saved).read_text() == uri


@pytest.mark.parametrize("problem", ["missing", "folder", "empty", "large"])
def test_a_file_that_cannot_be_sent_is_one_line_and_no_job(
    server: GenqServer, api: httpx.Client, tmp_path: Path, problem: str
) -> None:
    """A missing file, a folder, an @ without a path and a file over the limit each end the
    command with one line on stderr and exit 2, before anything is submitted."""
    path = {"missing": tmp_path / "missing.wav", "folder": tmp_path, "empty": ""}.get(problem)
    if problem == "large":
        path = tmp_path / "long.wav"
        with path.open("wb") as file:
            file.truncate(MAX_FILE_BYTES + 1)
    newest = api.get("/v1/jobs", params={"limit": 1}).json()["data"]
    result = genq(server, "run", "noop", "-i", f"output_text=@{path}", "-o", str(tmp_path))
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    expected = {
        "missing": f"error: cannot read {path}: No such file or directory",
        "folder": f"error: cannot read {path}: Is a directory",
        "empty": "error: --input KEY=@PATH needs the file's path after the @",
        "large": f"error: {path} has {MAX_FILE_BYTES + 1} bytes, more than the 20 MiB a file "
        "input may have",
    }[problem]
    assert line == expected
    assert api.get("/v1/jobs", params={"limit": 1}).json()["data"] == newest


def test_jobs_show_prints_a_text_output(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs show` prints the content of the job's text output below its outputs table;
    --json prints the server's JSON alone."""
    job_id = submit(api, "noop", output_text="the quick brown fox\nsecond line")
    wait_for(api, job_id)
    shown = succeeded(genq(server, "jobs", "show", job_id)).stdout
    table, _, text = shown.partition("output 0 (text/plain; charset=utf-8)")
    assert "outputs" in table
    assert text.strip() == "the quick brown fox\nsecond line"
    raw = json.loads(succeeded(genq(server, "jobs", "show", job_id, "--json")).stdout)
    assert "the quick brown fox" not in json.dumps(raw["outputs"])


def test_jobs_show_prints_the_start_of_a_long_text(server: GenqServer, api: httpx.Client) -> None:
    """A text output over the shown cap prints its start, whole characters only, and a line
    saying how to download the rest."""
    long = "é" * 40_000  # 80 000 bytes of UTF-8
    job_id = submit(api, "noop", output_text=long)
    wait_for(api, job_id)
    shown = succeeded(genq(server, "jobs", "show", job_id, COLUMNS="100000")).stdout
    text = shown.partition("output 0 (text/plain; charset=utf-8)")[2].strip()
    body, _, note = text.rpartition("\n")
    assert body == "é" * (SHOWN_TEXT_BYTES // 2)
    assert note == f"… the first 65.5 kB of 80.0 kB; the whole file: genq jobs download {job_id}"


def test_jobs_show_without_text_outputs_prints_no_text(
    server: GenqServer, api: httpx.Client
) -> None:
    """A job whose outputs are not plain text shows no text section."""
    job_id = submit(api, "noop")
    wait_for(api, job_id)
    shown = succeeded(genq(server, "jobs", "show", job_id)).stdout
    assert "output 0" not in shown
    assert job_id in shown


def test_jobs_watch_prints_the_text_at_the_end(server: GenqServer, api: httpx.Client) -> None:
    """`genq jobs watch` shows the finished job with its text output too."""
    job_id = submit(api, "noop", output_text="watched", sleep_ms=200)
    shown = succeeded(genq(server, "jobs", "watch", job_id)).stdout
    assert shown.rstrip().endswith("watched")


def test_a_long_text_that_is_not_utf8_says_it_was_cut() -> None:
    """Whether a text was cut is told by the file's bytes, not by its decoded characters: a
    long file of bytes that are not UTF-8 (each shown as one replacement character) still
    gets its line saying where the rest is."""
    from io import StringIO

    from rich.console import Console

    from genq.cli.render import text_view
    from genq.client import Job

    size = 100 * 1024
    job = Job.from_api(
        {
            "id": "job_1",
            "model": "noop",
            "status": "succeeded",
            "outputs": [
                {"url": "/x", "content_type": "text/plain", "size": size, "sha256": "0" * 64}
            ],
        }
    )
    out = StringIO()
    shown = "\ufffd" * SHOWN_TEXT_BYTES  # 64 KiB of bytes such as 0xff, read with replacement
    Console(file=out, width=100_000).print(text_view(job, 0, shown))
    assert (
        out.getvalue()
        .rstrip()
        .endswith("… the first 65.5 kB of 102.4 kB; the whole file: genq jobs download job_1")
    )
