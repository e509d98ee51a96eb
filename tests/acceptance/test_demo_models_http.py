"""The demo models end to end: submit over HTTP, download through the output link, decode."""

from __future__ import annotations

import io

import httpx
import pytest

from tests.conftest import wait_for
from tests.http.test_jobs import submit


def run(api: httpx.Client, model: str, input: dict) -> tuple[dict, bytes]:
    response = api.post("/v1/jobs", json={"model": model, "input": input})
    assert response.status_code == 202, response.text
    job = wait_for(api, response.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job["error"]
    [output] = job["outputs"]
    return output, httpx.get(output["url"]).content


def test_demo_image_gives_a_png_of_the_requested_size(api: httpx.Client) -> None:
    """demo-image returns a PNG of the requested width and height, described in its output."""
    from PIL import Image

    output, data = run(api, "demo-image", {"prompt": "a lighthouse", "width": 320, "height": 192})
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("PNG", (320, 192))
    assert (output["content_type"], output["width"], output["height"]) == ("image/png", 320, 192)
    again = submit(api, {})  # the worker is still healthy for other models
    assert wait_for(api, again["id"])["status"] == "succeeded"


def test_demo_image_is_reproducible_by_seed(api: httpx.Client) -> None:
    """The same prompt and seed give the same bytes through the whole service."""
    input = {"prompt": "fog", "seed": 42, "width": 128, "height": 128}
    first, second = run(api, "demo-image", input), run(api, "demo-image", input)
    assert first[0]["sha256"] == second[0]["sha256"]
    assert first[1] == second[1]


def test_demo_video_gives_a_playable_mp4_of_the_requested_duration(api: httpx.Client) -> None:
    """demo-video returns an H.264 MP4 whose duration is the one asked for."""
    av = pytest.importorskip("av")
    output, data = run(api, "demo-video", {"prompt": "waves", "duration": 3, "fps": 10})
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.codec_context.name == "h264"
        assert container.duration / 1_000_000 == pytest.approx(3.0, abs=0.15)
    assert frames == 30
    assert output["content_type"] == "video/mp4"
    assert output["duration"] == pytest.approx(3.0)


def test_demo_speech_gives_audio_of_plausible_length(api: httpx.Client) -> None:
    """demo-speech returns audio whose length fits the text (about 2-4 words a second)."""
    soundfile = pytest.importorskip("soundfile")
    text = "genq runs generative models behind a durable job queue on your own machines. " * 2
    output, data = run(api, "demo-speech", {"text": text, "format": "flac"})
    info = soundfile.info(io.BytesIO(data))
    words = len(text.split())
    assert words / 4.5 < info.duration < words / 1.5
    assert output["content_type"] == "audio/flac"
    assert output["duration"] == pytest.approx(info.duration, abs=0.05)
