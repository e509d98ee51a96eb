"""A speech-to-text model in the console: the sound is chosen from the disk with a picker that
offers sounds, sent as a data: URI, and the transcript shown as text. The model is a tiny
random-weight Whisper, built for the run and loaded through transformers' own
from_pretrained."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import GenqServer
from tests.console.conftest import Watched
from tests.console.playground import finished, open_playground, run

pytest.importorskip("transformers")

CONFIG = """
[models.whisper]
runtime = "transformers"
task = "automatic-speech-recognition"
source = "{tiny}/whisper"
"""


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """A server with one speech-to-text model besides the demos."""
    from genq.testing.tiny import make_tiny

    os.environ["HF_HUB_OFFLINE"] = "1"
    directory = tmp_path_factory.mktemp("console-whisper")
    make_tiny(directory / "tiny", ["whisper"])
    toml = CONFIG.format(tiny=directory / "tiny")
    server = GenqServer(directory / "data", toml=toml, workers=1).start(timeout=60)
    yield server
    server.close()


def tone(path: Path, seconds: float = 1.0, rate: int = 22050) -> None:
    """A 440 Hz tone as a 16-bit mono WAV."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def test_speech_to_text_with_an_uploaded_sound(
    signed_in: Watched, console_server: GenqServer, tmp_path: Path
) -> None:
    """The audio field is a picker for sounds; the sound picked goes out as a data: URI and
    the job's transcript is shown as text on the page."""
    sound = tmp_path / "speech.wav"
    tone(sound)
    page = open_playground(signed_in, "whisper")
    picker = page.locator("[data-field=audio]")
    assert picker.get_attribute("type") == "file"
    assert picker.get_attribute("accept") == "audio/*"
    picker.set_input_files(sound)
    job_id = run(page)
    finished(page)
    with console_server.client() as api:
        job = api.get(f"/v1/jobs/{job_id}").json()
        transcript = api.get(job["outputs"][0]["url"]).text
    assert job["input"]["audio"].startswith("data:audio/")
    assert job["outputs"][0]["content_type"].startswith("text/plain")
    # The page shows the transcript itself (random weights: any text, maybe none).
    page.wait_for_function(
        "() => { const t = document.querySelector('[data-live-results] [data-output-text]');"
        " return t && t.textContent !== '…'; }"
    )
    shown = page.text_content("[data-live-results] [data-output-text]")
    assert shown == transcript
