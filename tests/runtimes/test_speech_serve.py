"""Speech to text, text to speech and captioning through ``genq serve`` and the job API, with
the tiny random-weight Whisper, VITS and BLIP models in a real worker process: a sound spoken
by ``demo-speech`` transcribed with its subtitles, other containers decoded, and every way a
reference sound is refused, each with its answer."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import GenqServer, wait_for
from tests.media.test_audio import sound, webm_declaring

pytest.importorskip("transformers")
pysubs2 = pytest.importorskip("pysubs2")
soundfile = pytest.importorskip("soundfile")

#: Small enough that a sound can be too large without a body over the request limit.
REFERENCE_MAX_BYTES = 1024 * 1024

CONFIG = """
[models.whisper]
runtime = "transformers"
task = "automatic-speech-recognition"
source = "{tiny}/whisper"
max_audio_seconds = 60

[models.voice]
runtime = "transformers"
task = "text-to-speech"
source = "{tiny}/tts"

[models.captions]
runtime = "transformers"
task = "image-to-text"
source = "{tiny}/caption"
default_max_tokens = 8
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[GenqServer]:
    directory = tmp_path_factory.mktemp("speech")
    server = GenqServer(
        directory / "data",
        toml=CONFIG.format(tiny=tiny_models),
        workers=1,
        reference_max_bytes=REFERENCE_MAX_BYTES,
    ).start(timeout=60)
    yield server
    server.close()


@pytest.fixture
def api(server: GenqServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def run(api: httpx.Client, model: str, **input: Any) -> dict[str, Any]:
    response = api.post("/v1/jobs", json={"model": model, "input": input})
    assert response.status_code == 202, response.text
    return wait_for(api, response.json()["id"], timeout=120)


def succeeded(api: httpx.Client, model: str, **input: Any) -> dict[str, Any]:
    job = run(api, model, **input)
    assert job["status"] == "succeeded", job
    return job


def files(api: httpx.Client, job: dict[str, Any]) -> dict[str, bytes]:
    """A finished job's files by content type (without parameters)."""
    return {o["content_type"].split(";")[0]: api.get(o["url"]).content for o in job["outputs"]}


@pytest.fixture(scope="module")
def spoken(server: GenqServer) -> bytes:
    """Three seconds or so of speech, as a WAV made by demo-speech through the same server."""
    with server.client() as api:
        job = succeeded(api, "demo-speech", text="The quick brown fox jumps over the lazy dog.")
        return api.get(job["outputs"][0]["url"]).content


def test_a_spoken_sentence_is_transcribed_with_its_subtitles(
    api: httpx.Client, spoken: bytes
) -> None:
    """demo-speech's WAV goes through the whole path: fetch (a data: URI), decode, resample to
    16 kHz, the model, and the transcript with segments, SRT and WebVTT that parse."""
    info = soundfile.info(io.BytesIO(spoken))
    assert 2.0 < info.duration < 6.0
    job = succeeded(api, "whisper", audio=data_uri(spoken, "audio/wav"), timestamps="segment")
    assert [o["content_type"].split(";")[0] for o in job["outputs"]] == [
        "text/plain",
        "application/json",
        "application/x-subrip",
        "text/vtt",
    ]
    assert job["outputs"][0]["duration"] == pytest.approx(info.duration, abs=0.05)
    out = files(api, job)
    transcript = out["text/plain"].decode("utf-8")
    segments = json.loads(out["application/json"])
    assert isinstance(segments, list)
    for segment in segments:
        assert 0 <= segment["start"] <= segment["end"] <= info.duration + 0.05
    # The segments hold the transcript's words (each segment's text trimmed).
    assert "".join(s["text"] for s in segments).split() == transcript.replace(" ", "").split()
    srt = pysubs2.SSAFile.from_string(out["application/x-subrip"].decode(), format_="srt")
    vtt = pysubs2.SSAFile.from_string(out["text/vtt"].decode(), format_="vtt")
    said = " ".join(s["text"] for s in segments).split()
    for subtitles in (srt, vtt):
        assert " ".join(e.plaintext for e in subtitles).split() == said
        assert all(e.end > e.start for e in subtitles)


@pytest.mark.parametrize(
    ("container", "codec", "content_type"),
    [
        ("mp3", "libmp3lame", "audio/mpeg"),
        ("flac", "flac", "audio/flac"),
        ("webm", "libopus", "audio/webm"),
    ],
)
def test_mp3_flac_and_webm_are_decoded(
    api: httpx.Client, container: str, codec: str, content_type: str
) -> None:
    rate = 48000 if codec == "libopus" else 44100
    data = sound(container, codec, 2.0, rate=rate)
    job = succeeded(api, "whisper", audio=data_uri(data, content_type))
    assert job["outputs"][0]["duration"] == pytest.approx(2.0, abs=0.1)


def test_speech_grows_with_its_text(api: httpx.Client) -> None:
    """Text to speech gives a WAV that decodes, longer for a longer text."""
    short = succeeded(api, "voice", text="hello there.")
    long = succeeded(api, "voice", text="hello there. " * 6 + "and a good day to you too.")
    durations = []
    for job in (short, long):
        (output,) = job["outputs"]
        assert output["content_type"] == "audio/wav"
        samples, rate = soundfile.read(io.BytesIO(api.get(output["url"]).content))
        assert len(samples) / rate == pytest.approx(output["duration"], abs=0.01)
        durations.append(output["duration"])
    assert durations[1] > 2 * durations[0] > 0


def test_a_png_is_captioned(api: httpx.Client) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (30, 120, 200)).save(buffer, "PNG")
    job = succeeded(
        api, "captions", image=data_uri(buffer.getvalue(), "image/png"), prompt="a picture of"
    )
    (output,) = job["outputs"]
    assert output["content_type"].startswith("text/plain")
    assert isinstance(api.get(output["url"]).text, str)


def refusal_at_submit(api: httpx.Client, audio: str) -> dict[str, Any]:
    response = api.post("/v1/jobs", json={"model": "whisper", "input": {"audio": audio}})
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == "validation_error"
    assert [d["path"] for d in body["details"]] == ["input/audio"]
    return body


def test_another_scheme_is_refused_at_submit(api: httpx.Client) -> None:
    body = refusal_at_submit(api, "ftp://example.com/speech.wav")
    assert "only http://, https:// and data: references" in body["message"]


def test_a_picture_is_no_sound_and_refused_at_submit(api: httpx.Client) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    body = refusal_at_submit(api, data_uri(buffer.getvalue(), "image/png"))
    assert "not audio" in body["message"]


def failure(api: httpx.Client, audio: str) -> str:
    """The message of a job the worker failed with invalid_input."""
    job = run(api, "whisper", audio=audio)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "invalid_input", job["error"]
    return str(job["error"]["message"])


def test_a_private_address_is_refused_by_the_worker(api: httpx.Client, server: GenqServer) -> None:
    """The server's own address is loopback: refused unless the operator allows it."""
    message = failure(api, f"{server.url}/healthz")
    assert "public address" in message


def test_a_sound_over_the_byte_limit_is_refused(api: httpx.Client) -> None:
    data = sound("wav", "pcm_s16le", 15.0, rate=44100, stereo=False)
    assert len(data) > REFERENCE_MAX_BYTES
    assert "limit" in failure(api, data_uri(data, "audio/wav"))


def test_a_sound_longer_than_the_model_takes_is_refused(api: httpx.Client) -> None:
    """Over max_audio_seconds, whether its header says so or says nothing."""
    data = sound("webm", "libopus", 61.0, rate=48000, stereo=False)
    assert len(data) < REFERENCE_MAX_BYTES
    for declared in (data, webm_declaring(data, None)):
        assert "60" in failure(api, data_uri(declared, "audio/webm"))


def test_bytes_that_do_not_decode_are_refused(api: httpx.Client) -> None:
    """A WAV header with noise behind it is refused by the worker as unreadable."""
    header = sound("wav", "pcm_s16le", 0.1, rate=8000, stereo=False)[:44]
    message = failure(api, data_uri(header + bytes(range(256)) * 8, "audio/wav"))
    assert message
