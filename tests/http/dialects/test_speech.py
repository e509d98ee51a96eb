"""Speech-to-text through the vendor dialects, in-process: NetMind's ``config.audio_url`` and
``config.task`` reach the model's ``audio`` and ``task``, and a completed generation carries
its transcript in ``result.data[0].text``; Segmind answers a transcript as its text models'
result; MindVideo's task output has it as ``text``. The jobs run through a worker in this
process, on a plug-in model (``tests.plugins:Listener``) that "transcribes" a WAV file (and
on ``noop`` for a long text)."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from genq.keys import create_key
from genq.server import build_app
from genq.service import JobService
from genq.settings import Settings
from genq.worker.runner import Worker


def wav_bytes(frames: int = 1600) -> bytes:
    """A short silent mono WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(16000)
        sound.writeframes(b"\x00\x00" * frames)
    return buffer.getvalue()


WAV = wav_bytes()
WAV_URI = "data:audio/wav;base64," + base64.b64encode(WAV).decode()


@dataclass
class Genq:
    """An in-process genq, its settings (for a worker) and a key."""

    client: TestClient
    settings: Settings
    service: JobService
    key: str

    def post(self, path: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": self.key, **headers})

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, headers={"Authorization": self.key, **headers})

    def work(self) -> None:
        """Run every queued job to its end, as a worker process does."""
        worker = Worker(
            self.settings, "w-test", store=self.service.store, storage=self.service.storage
        )
        worker.run(burst=True)


@pytest.fixture
def genq(tmp_path: Path) -> Iterator[Genq]:
    settings = Settings.load(
        data_dir=tmp_path / "data",
        models={"listener": {"entrypoint": "tests.plugins:Listener"}},
        aliases={"speech-to-text": {"model": "listener"}},
    )
    app = build_app(settings, workers=False)
    service: JobService = app.state.service
    _, key = create_key(service.store, "default")
    with TestClient(app) as client:
        yield Genq(client, settings, service, key)


def native_job(genq: Genq, job_id: str) -> dict[str, Any]:
    answer = genq.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


# -- NetMind ---------------------------------------------------------------------------------
def netmind_transcribe(genq: Genq, config: dict[str, Any], model: str = "listener") -> str:
    created = genq.post("/v1/generation", {"model": model, "config": config})
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "pending"
    assert created.json()["result"] == {}
    generation_id: str = created.json()["id"]
    return generation_id


def test_netmind_audio_url_and_task_reach_the_model(genq: Genq) -> None:
    """``config.audio_url`` becomes the model's ``audio`` and ``config.task`` its ``task``;
    the job keeps NetMind's request as it was sent."""
    config = {"task": "translate", "audio_url": WAV_URI}
    generation_id = netmind_transcribe(genq, config, model="speech-to-text")
    job = native_job(genq, generation_id)
    assert job["model"] == "listener"
    assert job["input"]["audio"] == WAV_URI
    assert job["input"]["task"] == "translate"
    assert "audio_url" not in job["input"]


def test_netmind_generation_carries_its_transcript(genq: Genq) -> None:
    """A completed transcription lists its transcript file with its link fields and its
    content in ``text``, in the get and in the list."""
    generation_id = netmind_transcribe(genq, {"task": "transcribe", "audio_url": WAV_URI})
    pending = genq.get(f"/v1/generation/{generation_id}").json()
    assert pending["status"] == "pending"
    assert pending["result"] == {}
    genq.work()
    done = genq.get(f"/v1/generation/{generation_id}").json()
    assert done["status"] == "completed"
    [entry] = done["result"]["data"]
    assert entry["text"] == f"heard {len(WAV)} bytes (en, transcribe)"
    assert entry["file_type"] == "text"
    assert entry["file_name"].endswith(".txt")
    assert entry["file_id"].startswith("file-")
    assert genq.client.get(entry["url"]).text == entry["text"]
    [listed] = genq.get("/v1/generation").json()["generation_list"]
    assert listed["result"] == done["result"]


def test_netmind_text_goes_only_with_plain_text_files(genq: Genq) -> None:
    """With timestamps (NetMind's ``chunk_level``) the segments (JSON), SRT and WebVTT files
    are listed as links only; the plain transcript alone carries its text."""
    config = {"audio_url": WAV_URI, "chunk_level": "segment", "language": "fr"}
    generation_id = netmind_transcribe(genq, config)
    genq.work()
    data = genq.get(f"/v1/generation/{generation_id}").json()["result"]["data"]
    assert len(data) == 4
    assert data[0]["text"] == f"heard {len(WAV)} bytes (fr, transcribe)"
    assert [("text" in entry) for entry in data] == [True, False, False, False]
    assert [entry["file_name"].rsplit(".", 1)[-1] for entry in data] == [
        "txt",
        "json",
        "srt",
        "vtt",
    ]


def test_netmind_lists_only_short_texts(genq: Genq) -> None:
    """A text over 64 KiB is read by the generation's id, not in every list of them; a short
    one is in both."""
    long_text = "é" * 40_000  # 80 000 bytes of UTF-8
    ids = [
        genq.post("/v1/generation", {"model": "noop", "config": {"output_text": text}}).json()["id"]
        for text in (long_text, "short")
    ]
    genq.work()
    got = [genq.get(f"/v1/generation/{i}").json()["result"]["data"][0]["text"] for i in ids]
    assert got == [long_text, "short"]
    listed = {
        g["id"]: g["result"]["data"][0]
        for g in genq.get("/v1/generation").json()["generation_list"]
    }
    assert "text" not in listed[ids[0]]
    assert listed[ids[1]]["text"] == "short"


def test_netmind_audio_url_goes_only_to_a_model_with_audio(genq: Genq) -> None:
    """For a model without an ``audio`` input, ``audio_url`` is a field it lacks: dropped,
    as NetMind drops any."""
    config = {"prompt": "a bell", "audio_url": WAV_URI}
    created = genq.post("/v1/generation", {"model": "demo-image", "config": config})
    assert created.status_code == 200, created.text
    job = native_job(genq, created.json()["id"])
    assert job["input"]["prompt"] == "a bell"
    assert not {"audio", "audio_url"} & set(job["input"])


def test_netmind_a_missing_audio_is_a_422_naming_it(genq: Genq) -> None:
    """A transcription without ``audio_url`` is refused, naming the model's input."""
    refused = genq.post("/v1/generation", {"model": "listener", "config": {"task": "transcribe"}})
    assert refused.status_code == 422, refused.text
    assert "audio" in refused.text


# -- Segmind ---------------------------------------------------------------------------------
def test_segmind_answers_a_transcript_as_its_text_models_do(genq: Genq) -> None:
    """``POST /v2/{model}`` with the model's ``audio``; the result is ``output`` with the
    transcript, not partial, as an LLM's; the legacy poll says the same."""
    headers = {"x-api-key": genq.key}
    submitted = genq.client.post(
        "/v2/speech-to-text", json={"audio": WAV_URI, "language": "de"}, headers=headers
    )
    assert submitted.status_code == 200, submitted.text
    request_id = submitted.json()["request_id"]
    queued = genq.client.get(f"/v2/requests/{request_id}", headers=headers).json()
    assert queued["status"] == "QUEUED"
    assert queued["partial"] is True
    genq.work()
    status = genq.client.get(f"/v2/requests/{request_id}/status", headers=headers).json()
    assert status["status"] == "COMPLETED"
    result = genq.client.get(f"/v2/requests/{request_id}", headers=headers).json()
    transcript = f"heard {len(WAV)} bytes (de, transcribe)"
    assert result == {
        "status": "COMPLETED",
        "output": transcript,
        "reasoning": None,
        "partial": False,
        "error": None,
        "metrics": result["metrics"],
    }
    legacy = genq.client.get(f"/v1/requests/{request_id}", headers=headers).json()
    assert legacy["output"] == transcript


# -- MindVideo -------------------------------------------------------------------------------
def test_mindvideo_task_output_has_the_transcript(genq: Genq) -> None:
    """A MindVideo task of a speech-to-text model takes its ``audio`` as the model names it
    and its succeeded output holds the transcript as ``text``, with the files beside it."""
    headers = {"Authorization": f"Bearer {genq.key}"}
    body = {"model": "listener", "input": {"audio": WAV_URI, "timestamps": "segment"}}
    created = genq.client.post("/api/v1/tasks", json=body, headers=headers)
    assert created.status_code == 200, created.text
    task_id = created.json()["task_id"]
    genq.work()
    task = genq.client.get(f"/api/v1/tasks/{task_id}", headers=headers).json()
    assert task["status"] == "succeeded"
    assert task["output"]["text"] == f"heard {len(WAV)} bytes (en, transcribe)"
    assert len(task["output"]["files"]) == 4


# -- Oxen ------------------------------------------------------------------------------------
def test_oxen_has_no_place_for_a_speech_model(genq: Genq) -> None:
    """Oxen's queue takes image and video models only, as its document says: a speech model
    is refused with its unsupported-media-type error, and nothing is queued."""
    headers = {"Authorization": f"Bearer {genq.key}"}
    body = {"model": "speech-to-text", "audio": WAV_URI}
    refused = genq.client.post("/api/ai/queue", json=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json() == {"error": ":unsupported_media_type"}
    assert genq.get("/v1/jobs").json()["data"] == []
