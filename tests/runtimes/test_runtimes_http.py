"""The diffusers, transformers and Python runtimes end to end: configured in the TOML file,
served by ``genq serve`` with real worker processes, driven through the job API."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import read_events

pytest.importorskip("diffusers")

CONFIG = """
[models.sd]
runtime = "diffusers"
source = "{tiny}/sd"
task = "text-to-image"
default_steps = 3
max_steps = 900
max_batch = 4
batch_wait_ms = 300

[models.sd-solo]
runtime = "diffusers"
source = "{tiny}/sd"
task = "text-to-image"
default_steps = 3
max_steps = 900

[models.sd-img2img]
runtime = "diffusers"
source = "{tiny}/sd"
task = "image-to-image"
default_steps = 4

[models.sd-inpaint]
runtime = "diffusers"
source = "{tiny}/sd"
task = "inpainting"
default_steps = 3

[models.ltx]
runtime = "diffusers"
source = "{tiny}/ltx"
task = "text-to-video"
size_multiple = 32
default_side = 64
default_steps = 2
default_frames = 9
default_fps = 8

[models.ltx-i2v]
runtime = "diffusers"
source = "{tiny}/ltx"
task = "image-to-video"
size_multiple = 32
default_side = 64
default_steps = 2
default_frames = 9
default_fps = 8

[models.audio]
runtime = "diffusers"
source = "{tiny}/audio"
task = "text-to-audio"
default_steps = 2
default_audio_seconds = 0.5
max_audio_seconds = 1

[models.gpt2]
runtime = "transformers"
source = "{tiny}/gpt2"
default_max_tokens = 16
default_temperature = 0

[models.sd-hub]
runtime = "diffusers"
source = "genq-test/tiny-sd"
cache_dir = "{cache}"
task = "text-to-image"
default_steps = 3

[models.missing]
runtime = "diffusers"
source = "{tiny}/no-such-folder"
task = "text-to-image"
"""


def hub_cache(directory: Path, repo: str, folder: Path) -> Path:
    """A hub cache holding ``folder`` as the ``main`` revision of ``repo``, laid out as the
    hub client writes it, so that a hub id loads from it with ``HF_HUB_OFFLINE=1``."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = directory / f"models--{repo.replace('/', '--')}"
    shutil.copytree(folder, repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return directory


@pytest.fixture(scope="module")
def runtime_server(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path):
    directory = tmp_path_factory.mktemp("runtimes")
    cache = hub_cache(directory / "hub", "genq-test/tiny-sd", tiny_models / "sd")
    toml = CONFIG.format(tiny=tiny_models, cache=cache)
    server = GenqServer(directory / "data", toml=toml, workers=1).start(timeout=60)
    yield server
    server.close()


@pytest.fixture
def api(runtime_server: GenqServer):
    with runtime_server.client() as client:
        yield client


def submit(api: httpx.Client, model: str, **input: Any) -> str:
    response = api.post("/v1/jobs", json={"model": model, "input": input})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(api: httpx.Client, job_id: str) -> dict[str, Any]:
    job = wait_for(api, job_id, timeout=120)
    assert job["status"] == "succeeded", job
    return job


def download(api: httpx.Client, job_id: str, index: int = 0) -> httpx.Response:
    response = api.get(f"/v1/jobs/{job_id}/outputs/{index}")
    assert response.status_code == 200
    return response


def data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def pixels(response: httpx.Response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), dtype=np.int16)


def progress_steps(api: httpx.Client, job_id: str) -> list[tuple[int, int]]:
    return [
        (e["data"]["step"], e["data"]["total"])
        for e in read_events(api, job_id)
        if e["event"] == "progress"
    ]


# -- images ------------------------------------------------------------------------------
def test_text_to_image_writes_the_requested_images(api: httpx.Client) -> None:
    job_id = submit(api, "sd-solo", prompt="a red fox", width=64, height=48, num_images=2, seed=7)
    job = finished(api, job_id)
    assert [o["content_type"] for o in job["outputs"]] == ["image/png", "image/png"]
    assert {(o["width"], o["height"]) for o in job["outputs"]} == {(64, 48)}
    first, second = pixels(download(api, job_id, 0)), pixels(download(api, job_id, 1))
    assert first.shape == (48, 64, 3)
    assert np.abs(first - second).max() > 0, "image i uses seed + i: the two must differ"


def test_the_same_seed_gives_the_same_image_and_formats_are_honoured(api: httpx.Client) -> None:
    a = submit(api, "sd-solo", prompt="a boat", width=32, height=32, seed=3)
    again = submit(api, "sd-solo", prompt="a boat", width=32, height=32, seed=3)
    other = submit(api, "sd-solo", prompt="a boat", width=32, height=32, seed=4)
    webp = submit(api, "sd-solo", prompt="a boat", width=32, height=32, output_format="webp")
    for job_id in (a, again, other):
        finished(api, job_id)
    assert np.array_equal(pixels(download(api, a)), pixels(download(api, again)))
    assert not np.array_equal(pixels(download(api, a)), pixels(download(api, other)))
    assert finished(api, webp)["outputs"][0]["content_type"] == "image/webp"
    assert Image.open(io.BytesIO(download(api, webp).content)).format == "WEBP"


def test_a_hub_id_loads_from_the_hub_cache_offline(api: httpx.Client) -> None:
    """The same table with a hub id instead of a folder: found in the cache, no network."""
    local = submit(api, "sd-solo", prompt="hub", width=32, height=32, seed=5)
    hub = submit(api, "sd-hub", prompt="hub", width=32, height=32, seed=5)
    finished(api, local)
    finished(api, hub)
    assert np.array_equal(pixels(download(api, local)), pixels(download(api, hub)))


def test_every_step_reports_progress(api: httpx.Client) -> None:
    job_id = submit(api, "sd-solo", prompt="steps", width=32, height=32, steps=5)
    finished(api, job_id)
    assert progress_steps(api, job_id) == [(step, 5) for step in range(1, 6)]


def test_image_to_image_and_inpainting_take_reference_images(api: httpx.Client) -> None:
    source = Image.new("RGB", (64, 64), (200, 30, 30))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    i2i = submit(api, "sd-img2img", prompt="a cat", image=data_uri(source), strength=0.5)
    inpaint = submit(
        api, "sd-inpaint", prompt="a hat", image=data_uri(source), mask_image=data_uri(mask)
    )
    for job_id in (i2i, inpaint):
        job = finished(api, job_id)
        assert job["outputs"][0]["content_type"] == "image/png"
        assert pixels(download(api, job_id)).shape[2] == 3
    # strength 0.5 of 4 steps: the pipeline runs 2 denoising steps.
    assert progress_steps(api, i2i)[-1] == (2, 2)


def test_reference_images_on_private_addresses_are_refused(
    api: httpx.Client, runtime_server: GenqServer
) -> None:
    """The operator has not allowed private addresses: a loopback URL fails the job."""
    url = f"{runtime_server.url}/healthz"
    job = wait_for(api, submit(api, "sd-img2img", prompt="x", image=url), timeout=60)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_input"
    assert "does not resolve to a public address" in job["error"]["message"]


# -- video and audio ---------------------------------------------------------------------
def decode_video(data: bytes) -> tuple[int, float, tuple[int, int], str]:
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = len(list(container.decode(stream)))
        return (
            frames,
            float(stream.average_rate or 0),
            (stream.width, stream.height),
            stream.codec_context.name,
        )


def test_text_to_video_and_image_to_video_write_h264(api: httpx.Client) -> None:
    t2v = submit(api, "ltx", prompt="waves", width=64, height=64, seed=1)
    i2v = submit(api, "ltx-i2v", prompt="waves", image=data_uri(Image.new("RGB", (64, 64), "navy")))
    for job_id in (t2v, i2v):
        output = finished(api, job_id)["outputs"][0]
        assert output["content_type"] == "video/mp4"
        frames, fps, size, codec = decode_video(download(api, job_id).content)
        assert (frames, fps, codec) == (9, 8.0, "h264")
        assert size == (output["width"], output["height"])
        assert output["duration"] == pytest.approx(9 / 8)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_text_to_audio_writes_each_format(api: httpx.Client, fmt: str) -> None:
    import soundfile

    job_id = submit(api, "audio", prompt="rain", duration=0.5, output_format=fmt, seed=2)
    output = finished(api, job_id)["outputs"][0]
    assert (
        output["content_type"]
        == {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}[fmt]
    )
    info = soundfile.info(io.BytesIO(download(api, job_id).content))
    assert info.duration == pytest.approx(0.5, abs=0.06)
    assert output["duration"] == pytest.approx(0.5, abs=0.06)


# -- text --------------------------------------------------------------------------------
def test_text_generation_streams_tokens_as_events(api: httpx.Client) -> None:
    job_id = submit(api, "gpt2", prompt="Once upon a time", max_tokens=12)
    job = finished(api, job_id)
    assert job["outputs"][0]["content_type"].startswith("text/plain")
    text = download(api, job_id).text
    deltas = [e["data"]["delta"] for e in read_events(api, job_id) if e["event"] == "text"]
    assert deltas, "generated text must reach the event stream"
    assert "".join(deltas) == text
    assert progress_steps(api, job_id)[-1][1] == 12


def greedy_continuations(folder: Path, max_tokens: int, *inputs: Any) -> list[str]:
    """The model's greedy continuation of each input (a prompt, or chat messages run through
    its chat template), made here with transformers alone."""
    import torch
    import transformers

    tokenizer: Any = transformers.AutoTokenizer.from_pretrained(folder)
    model: Any = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    texts: list[str] = []
    for given in inputs:
        if isinstance(given, str):
            ids = tokenizer(given, return_tensors="pt").input_ids
        else:
            ids = tokenizer.apply_chat_template(
                given, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        texts.append(str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)))
    return texts


def test_text_generation_takes_chat_messages(api: httpx.Client, tiny_models: Path) -> None:
    """Chat messages go through the model's chat template: the output is the tiny model's
    greedy continuation of the templated chat, as transformers alone makes it."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me a story"},
    ]
    job_id = submit(api, "gpt2", messages=messages, max_tokens=8, temperature=0)
    finished(api, job_id)
    chat, plain = greedy_continuations(tiny_models / "gpt2", 8, messages, "Tell me a story")
    # Guards of the comparison itself: the template must change what the model says.
    assert chat
    assert chat != plain
    assert download(api, job_id).text == chat
    assert api.post("/v1/jobs", json={"model": "gpt2", "input": {}}).status_code == 422


# -- cancel, batching, load failure -------------------------------------------------------
def wait_for_progress(api: httpx.Client, job_id: str, step: int) -> None:
    def reached() -> bool:
        job = api.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), f"job {job_id} ended: {job['status']}"
        return bool(job["progress"]["step"] >= step)

    wait_until(reached, timeout=60)


def test_cancel_stops_a_running_pipeline_at_a_step_boundary(
    runtime_server: GenqServer, api: httpx.Client
) -> None:
    """A cancel stops a diffusers pipeline at its next step: the job ends canceled without
    outputs, long before its last step, and its worker process is not killed for it."""
    job_id = submit(api, "sd-solo", prompt="long", width=32, height=32, steps=900)
    wait_for_progress(api, job_id, 3)
    [worker] = runtime_server.worker_pids()
    assert api.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(api, job_id)
    assert job["status"] == "canceled"
    assert job["outputs"] == []
    assert progress_steps(api, job_id)[-1][0] < 900
    # Stopped by the pipeline, not by a kill at the end of the grace period (a killed
    # worker is gone before its job reads canceled).
    assert runtime_server.worker_pids() == [worker]


@contextmanager
def worker_held(api: httpx.Client) -> Iterator[None]:
    """Keep the only worker busy while jobs are submitted: they are all queued when it takes
    the next one, so matching jobs share a call however slowly they came."""
    blocker = submit(api, "noop", sleep_ms=60_000)
    wait_until(lambda: api.get(f"/v1/jobs/{blocker}").json()["status"] == "running", timeout=60)
    try:
        yield
    finally:
        assert api.post(f"/v1/jobs/{blocker}/cancel").status_code == 200


def test_jobs_with_matching_settings_run_as_one_batch_with_their_own_seeds(
    api: httpx.Client,
) -> None:
    """Four jobs run in one pipeline call; each output equals the same job run alone."""
    seeds = [11, 12, 13, 14]
    with worker_held(api):
        batched = [
            submit(api, "sd", prompt=f"picture {s}", width=32, height=32, seed=s) for s in seeds
        ]
    alone = [
        submit(api, "sd-solo", prompt=f"picture {s}", width=32, height=32, seed=s) for s in seeds
    ]
    for together, solo in zip(batched, alone, strict=True):
        finished(api, together)
        finished(api, solo)
        logs = [e["data"]["message"] for e in read_events(api, together) if e["event"] == "log"]
        assert "ran in a batch of 4 jobs" in logs
        difference = np.abs(pixels(download(api, together)) - pixels(download(api, solo))).max()
        assert difference <= 2, f"batched output differs from the solo run by {difference}"


def test_a_canceled_job_leaves_its_batch_and_the_others_finish(api: httpx.Client) -> None:
    with worker_held(api):
        jobs = [
            submit(api, "sd", prompt=f"slow {i}", width=32, height=32, steps=100, seed=i)
            for i in range(3)
        ]
    wait_for_progress(api, jobs[1], 3)
    api.post(f"/v1/jobs/{jobs[1]}/cancel")
    canceled = wait_for(api, jobs[1])
    assert canceled["status"] == "canceled"
    # It ended at once, while the others still had steps to go.
    others = [api.get(f"/v1/jobs/{j}").json() for j in (jobs[0], jobs[2])]
    assert all(o["status"] == "running" for o in others), others
    for job_id in (jobs[0], jobs[2]):
        assert len(finished(api, job_id)["outputs"]) == 1


def test_jobs_with_different_settings_do_not_share_a_call(api: httpx.Client) -> None:
    a = submit(api, "sd", prompt="a", width=32, height=32, seed=1)
    b = submit(api, "sd", prompt="b", width=48, height=32, seed=1)
    for job_id, width in ((a, 32), (b, 48)):
        assert finished(api, job_id)["outputs"][0]["width"] == width
        logs = [e["data"]["message"] for e in read_events(api, job_id) if e["event"] == "log"]
        assert not any("batch" in line for line in logs)


def test_a_pipeline_that_fails_to_load_fails_its_jobs_clearly(api: httpx.Client) -> None:
    job = wait_for(api, submit(api, "missing", prompt="x"), timeout=60)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "model_load_failed"
    assert "no-such-folder" in job["error"]["message"]
    assert finished(api, submit(api, "sd-solo", prompt="still fine", width=32, height=32))
