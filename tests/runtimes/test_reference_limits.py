"""No reference input makes a job bigger than the largest job its model allows.

A decompression bomb, a flat 9400x9400 PNG of about 23 KB (just under Pillow's own pixel
limit), is given to image-to-image, inpainting and image-to-video tiny pipelines served by a
real ``genq serve``, as a ``data:`` URI and from an HTTPS server. The worker's peak memory is
read from its process (``VmHWM``, reset before each job, and sampled while it runs) and
compared with a normal job of the same model. While a job runs, a worker that goes past the
limit is killed at once, so that a regression fails the test instead of the machine.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from PIL import Image

from tests.conftest import GenqServer, wait_until
from tests.media.images import data_uri, encoded
from tests.media.network import Certificates, LocalServer, body, make_certificates, serve

pytest.importorskip("diffusers")

MAX_SIDE = 256

CONFIG = f"""
[models.sd-img2img]
runtime = "diffusers"
source = "{{tiny}}/sd"
task = "image-to-image"
default_steps = 2
max_side = {MAX_SIDE}

[models.sd-inpaint]
runtime = "diffusers"
source = "{{tiny}}/sd"
task = "inpainting"
default_steps = 2
max_side = {MAX_SIDE}

[models.ltx-i2v]
runtime = "diffusers"
source = "{{tiny}}/ltx"
task = "image-to-video"
size_multiple = 32
default_side = 64
max_side = {MAX_SIDE}
default_steps = 2
default_frames = 9
default_fps = 8
"""

MODELS = ("sd-img2img", "sd-inpaint", "ltx-i2v")
#: A bomb's job may take at most this much more than a normal job's peak.
FACTOR = 2.0


@pytest.fixture(scope="session")
def bomb() -> bytes:
    """88.4 million one-bit pixels: 23 KB of PNG, 88 MB as a Pillow image, 265 MB in RGB."""
    buffer = io.BytesIO()
    Image.new("1", (9400, 9400), 1).save(buffer, "PNG", compress_level=9)
    assert len(buffer.getvalue()) < 32 * 1024
    return buffer.getvalue()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"), "127.0.0.1")


@pytest.fixture(scope="module")
def https(certificates: Certificates, bomb: bytes) -> Iterator[LocalServer]:
    """An HTTPS server on 127.0.0.1 that serves the bomb."""
    servers = serve(certificates.server)
    server = next(servers)
    server.routes["/bomb.png"] = body(bomb)
    yield server
    next(servers, None)  # stops it


@pytest.fixture(scope="module")
def genq(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: Path, certificates: Certificates
) -> Iterator[GenqServer]:
    directory = tmp_path_factory.mktemp("reference-limits")
    server = GenqServer(
        directory / "data",
        toml=CONFIG.format(tiny=tiny_models),
        workers=1,
        # The HTTPS server is on 127.0.0.1.
        reference_allow_private=True,
    )
    # The worker trusts the test CA, as httpx reads it from SSL_CERT_FILE.
    server.env["SSL_CERT_FILE"] = str(certificates.ca_file)
    server.start(timeout=60)
    yield server
    server.close()


@pytest.fixture
def api(genq: GenqServer) -> Iterator[httpx.Client]:
    with genq.client() as client:
        yield client


def worker_pid(server: GenqServer) -> int:
    """The server's one worker, waiting for it where the supervisor is replacing one."""
    pids: list[int] = []

    def one() -> bool:
        nonlocal pids
        try:
            pids = server.worker_pids()
        except psutil.Error:  # a killed worker not yet reaped
            return False
        return len(pids) == 1

    wait_until(one, timeout=30)
    return pids[0]


class PeakMemory:
    """The worker's peak resident memory while a block runs: the kernel's high-water mark
    (reset at the start) and samples every few ms, whichever is higher. Past ``limit`` bytes
    the worker is killed there and then."""

    def __init__(self, server: GenqServer, limit: float = float("inf")) -> None:
        self.process = psutil.Process(worker_pid(server))
        self.limit = limit
        self.peak = 0
        self.killed = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakMemory:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if not self.killed:
            self.peak = max(self.peak, self._high_water_mark())

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            try:
                rss = self.process.memory_info().rss
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, rss)
            if rss > self.limit:
                self.killed = True
                self.process.kill()
                return

    def _high_water_mark(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc/PID/status")


def submit(api: httpx.Client, model: str, **input: Any) -> str:
    response = api.post("/v1/jobs", json={"model": model, "input": input})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def inputs(model: str, image: str, mask: str | None = None) -> dict[str, Any]:
    """The input of a job of ``model`` with ``image`` as its reference (and mask)."""
    if model == "sd-inpaint":
        return {"prompt": "a hat", "image": image, "mask_image": mask or image}
    return {"prompt": "a boat", "image": image}


def run(
    api: httpx.Client, genq: GenqServer, model: str, input: dict[str, Any], limit: float
) -> tuple[dict[str, Any], int]:
    """Run one job; its end and the worker's peak memory while it ran."""
    with PeakMemory(genq, limit) as memory:
        job_id = submit(api, model, **input)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not memory.killed:
            job = api.get(f"/v1/jobs/{job_id}", params={"wait": 1}).json()
            if job["status"] not in ("queued", "running"):
                break
    if memory.killed:
        api.post(f"/v1/jobs/{job_id}/cancel")
        pytest.fail(
            f"{model}: the worker passed {memory.peak / 2**20:.0f} MiB (limit "
            f"{limit / 2**20:.0f} MiB) and was killed"
        )
    return job, memory.peak


@pytest.fixture(scope="module")
def normal_peaks() -> dict[str, int]:
    return {}


@pytest.fixture
def normal_peak(api: httpx.Client, genq: GenqServer, normal_peaks: dict[str, int]) -> Any:
    """The worker's peak memory in a normal job of a model (64x64 reference), once loaded."""

    def peak(model: str) -> int:
        if model not in normal_peaks:
            small = data_uri(encoded(Image.new("RGB", (64, 64), (200, 30, 30))))
            for _ in range(2):  # the first one loads the pipeline
                job, memory = run(api, genq, model, inputs(model, small), float("inf"))
                assert job["status"] == "succeeded", job
            normal_peaks[model] = memory
        return normal_peaks[model]

    return peak


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("transport", ["data", "https"])
def test_a_reference_bomb_is_refused_within_the_memory_of_a_normal_job(
    api: httpx.Client,
    genq: GenqServer,
    https: LocalServer,
    bomb: bytes,
    normal_peak: Any,
    model: str,
    transport: str,
) -> None:
    """A 9400x9400 reference is refused from its header, before it is decoded: the job fails
    with invalid_input, and the worker never holds twice what a normal job of the model does."""
    baseline = normal_peak(model)
    ref = data_uri(bomb) if transport == "data" else https.url("/bomb.png")
    job, peak = run(api, genq, model, inputs(model, ref), FACTOR * baseline)
    print(f"{model} {transport}: normal {baseline / 2**20:.0f} MiB, bomb {peak / 2**20:.0f} MiB")
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "invalid_input"
    assert "9400x9400 is more than the" in job["error"]["message"]
    assert peak <= FACTOR * baseline


@pytest.mark.parametrize(
    ("model", "size", "wanted"),
    [
        # Without a size, the reference's shape within max_side, sides multiples of 8.
        ("sd-img2img", {}, (256, 168)),
        # Width and height decide, though the pipeline itself would take the image's size.
        ("sd-img2img", {"width": 64, "height": 48}, (64, 48)),
        # A side made from the aspect ratio is no longer than max_side either.
        ("sd-img2img", {"width": 256, "aspect_ratio": "9:16"}, (256, 256)),
        ("sd-inpaint", {}, (256, 168)),
        # The model's default side, the reference's shape, multiples of 32.
        ("ltx-i2v", {}, (64, 32)),
        ("ltx-i2v", {"width": 96, "height": 64}, (96, 64)),
    ],
)
def test_a_large_reference_is_shrunk_to_the_jobs_size(
    api: httpx.Client,
    genq: GenqServer,
    normal_peak: Any,
    model: str,
    size: dict[str, int],
    wanted: tuple[int, int],
) -> None:
    """A 3000x2000 reference (and mask) is resized to the job's size before the pipeline sees
    it: the output has that size, and the worker stays within twice a normal job's memory."""
    baseline = normal_peak(model)
    large = data_uri(encoded(Image.new("RGB", (3000, 2000), (20, 90, 160))))
    mask = data_uri(encoded(Image.new("L", (1500, 1000), 255)))
    job, peak = run(api, genq, model, {**inputs(model, large, mask), **size}, FACTOR * baseline)
    print(f"{model} 3000x2000: normal {baseline / 2**20:.0f} MiB, {peak / 2**20:.0f} MiB")
    assert job["status"] == "succeeded", job
    output = job["outputs"][0]
    assert (output["width"], output["height"]) == wanted
    assert peak <= FACTOR * baseline
