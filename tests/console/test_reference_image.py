"""An image-to-image model in the console: the reference image is chosen from the disk, sent
as a data: URI, and the result shown. The model is a tiny random-weight Stable Diffusion
pipeline, built for the run and loaded through diffusers' own from_pretrained."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import GenqServer
from tests.console.conftest import Watched
from tests.console.playground import fill, finished, open_playground, run

pytest.importorskip("diffusers")

CONFIG = """
[models.sd-img2img]
runtime = "diffusers"
source = "{tiny}/sd"
task = "image-to-image"
default_steps = 2
"""


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """A server with one image-to-image model besides the demos."""
    from genq.testing.tiny import make_tiny

    os.environ["HF_HUB_OFFLINE"] = "1"
    directory = tmp_path_factory.mktemp("console-img2img")
    make_tiny(directory / "tiny", ["sd"])
    toml = CONFIG.format(tiny=directory / "tiny")
    server = GenqServer(directory / "data", toml=toml, workers=1).start(timeout=60)
    yield server
    server.close()


def test_image_to_image_with_an_uploaded_reference(
    signed_in: Watched, console_server: GenqServer, tmp_path: Path
) -> None:
    """A reference image picked in the form goes out as a data: URI and the job's image is
    shown at the asked size."""
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(reference)
    page = open_playground(signed_in, "sd-img2img")
    page.set_input_files("[data-field=image]", reference)
    fill(page, {"prompt": "a red square, repainted", "width": 64, "height": 64})
    job_id = run(page)
    finished(page)
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-results] img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    size = page.eval_on_selector("[data-results] img", "i => [i.naturalWidth, i.naturalHeight]")
    assert size == [64, 64]
    with console_server.client() as api:
        sent = api.get(f"/v1/jobs/{job_id}").json()["input"]["image"]
    assert sent.startswith("data:image/png;base64,")
