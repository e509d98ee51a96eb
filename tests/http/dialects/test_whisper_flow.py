"""A transcription as public NetMind client code runs it, against the tiny random-weight Whisper
through the real job path: an in-process genq, a worker in this process running the
transformers runtime, found through the default alias ``openai/whisper`` with no alias
configured. Then the same sound through Segmind's ``/v2/{model}`` (from a local URL, private
addresses allowed) and the native API."""

from __future__ import annotations

import base64
import http.server
import io
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from genq.keys import create_key
from genq.server import build_app
from genq.service import JobService
from genq.settings import Settings
from genq.worker.runner import Worker

pytest.importorskip("transformers")


def tone_wav(seconds: float = 0.5, rate: int = 16000) -> bytes:
    """A WAV file of a 440 Hz tone."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(samples.tobytes())
    return buffer.getvalue()


WAV = tone_wav()


@dataclass
class Whisper:
    client: TestClient
    settings: Settings
    service: JobService
    key: str
    #: A local HTTP server's URL of the WAV file.
    wav_url: str

    def work(self) -> None:
        """Run the queued jobs, as a worker process does."""
        worker = Worker(
            self.settings, "w-test", store=self.service.store, storage=self.service.storage
        )
        worker.run(burst=True)


@pytest.fixture(scope="module")
def sound_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local web server of one WAV file, as a client's own file host."""
    folder = tmp_path_factory.mktemp("sounds")
    (folder / "speech.wav").write_bytes(WAV)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/speech.wav"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genq.testing.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny"), ["whisper"])["whisper"]


@pytest.fixture
def whisper(tmp_path: Path, whisper_folder: Path, sound_server: str) -> Iterator[Whisper]:
    settings = Settings.load(
        data_dir=tmp_path / "data",
        models={
            "whisper-tiny": {
                "runtime": "transformers",
                "task": "automatic-speech-recognition",
                "source": str(whisper_folder),
            }
        },
        reference_allow_private=True,
    )
    app = build_app(settings, workers=False)
    service: JobService = app.state.service
    _, key = create_key(service.store, "default")
    with TestClient(app) as client:
        yield Whisper(client, settings, service, key, sound_server)


def test_netmind_client_transcribes_with_openai_whisper(whisper: Whisper) -> None:
    """POST /v1/generation with the public client's body, polled until completed; the
    transcript is ``result.data[0].text``, the content of the transcript file itself."""
    headers = {"Authorization": f"Bearer {whisper.key}", "Content-Type": "application/json"}
    body = {
        "model": "openai/whisper",
        "config": {
            "audio_url": "data:audio/wav;base64," + base64.b64encode(WAV).decode(),
            "task": "transcribe",
            "chunk_level": "segment",
            "version": "3",
            "batch_size": 64,
            "num_speakers": None,
        },
    }
    created = whisper.client.post("/v1/generation", json=body, headers=headers)
    assert created.status_code == 200, created.text
    generation_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    whisper.work()
    deadline = time.monotonic() + 60
    while (got := whisper.client.get(f"/v1/generation/{generation_id}", headers=headers)).json()[
        "status"
    ] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    generation = got.json()
    assert generation["status"] == "completed", generation
    data = generation["result"]["data"]
    transcript = data[0]["text"]
    assert isinstance(transcript, str)
    assert whisper.client.get(data[0]["url"]).text == transcript
    # chunk_level asked for timestamps: the segments and subtitles follow, links only.
    assert [entry["file_name"].rsplit(".", 1)[-1] for entry in data] == [
        "txt",
        "json",
        "srt",
        "vtt",
    ]
    assert all("text" not in entry for entry in data[1:])
    job = whisper.client.get(f"/v1/jobs/{generation_id}", headers=headers).json()
    assert job["model"] == "whisper-tiny"
    assert job["input"]["task"] == "transcribe"
    assert job["input"]["timestamps"] == "segment"


def test_segmind_and_native_transcribe_from_a_url(whisper: Whisper) -> None:
    """The same model through Segmind's /v2/openai/whisper, its sound at a local URL, answers
    the transcript as ``output``: the text the native API's job of the same input has as its
    one output."""
    segmind_key = {"x-api-key": whisper.key}
    segmind = whisper.client.post(
        "/v2/openai/whisper", json={"audio": whisper.wav_url}, headers=segmind_key
    )
    assert segmind.status_code == 200, segmind.text
    request_id = segmind.json()["request_id"]
    auth = {"Authorization": f"Bearer {whisper.key}"}
    native = whisper.client.post(
        "/v1/jobs",
        json={"model": "openai/whisper", "input": {"audio": whisper.wav_url}},
        headers=auth,
    )
    assert native.status_code == 202, native.text
    whisper.work()
    status = whisper.client.get(f"/v2/requests/{request_id}/status", headers=segmind_key)
    assert status.json()["status"] == "COMPLETED", status.text
    body = whisper.client.get(f"/v2/requests/{request_id}", headers=segmind_key).json()
    assert (body["status"], body["partial"], body["error"]) == ("COMPLETED", False, None)
    job = whisper.client.get(f"/v1/jobs/{native.json()['id']}", headers=auth).json()
    assert job["status"] == "succeeded", job
    assert job["model"] == "whisper-tiny"
    [output] = job["outputs"]
    assert output["content_type"].startswith("text/plain")
    assert body["output"] == whisper.client.get(output["url"]).text
