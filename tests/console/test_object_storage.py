"""The console where result files are presigned links to an S3-compatible bucket: another
origin, which the page's policy admits for images and media alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Backend, GenqServer
from tests.console.conftest import Watched
from tests.console.playground import fill, finished, open_playground, run
from tests.console.test_media import MEDIA_READY
from tests.s3server import S3Server


@pytest.fixture(scope="module")
def console_server(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server
) -> Iterator[GenqServer]:
    """A server that keeps its jobs in SQLite and its result files in a bucket."""
    storage = f"s3://{s3_server.create_bucket()}/results"
    directory = tmp_path_factory.mktemp("console-s3")
    server = GenqServer(directory / "data", backend=Backend("sqlite", s3_server), storage=storage)
    yield server.start()
    server.close()


@pytest.fixture(scope="module")
def storage_origins(s3_server: S3Server) -> tuple[str, ...]:
    return (s3_server.endpoint_url,)


def test_images_and_video_load_from_the_bucket(signed_in: Watched, s3_server: S3Server) -> None:
    """Images, a video and its poster come from the bucket's origin and load in the page."""
    page = open_playground(signed_in, "demo-image")
    fill(page, {"prompt": "a harbour", "num_images": 2, "width": 128, "height": 128})
    run(page)
    finished(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-results] img')]"
        ".every(img => img.complete && img.naturalWidth === 128)"
    )
    sources = page.eval_on_selector_all("[data-results] img", "imgs => imgs.map(i => i.src)")
    assert all(s.startswith(f"{s3_server.endpoint_url}/") for s in sources)

    page = open_playground(signed_in, "demo-video")
    fill(page, {"prompt": "a harbour at night", "duration": 1})
    run(page)
    finished(page)
    duration = page.wait_for_function(MEDIA_READY, arg="[data-results] video").json_value()
    assert abs(duration - 1) < 0.3
    poster = page.get_attribute("[data-results] video", "poster") or ""
    assert poster.startswith(f"{s3_server.endpoint_url}/")


def test_text_in_the_bucket_is_linked(signed_in: Watched, s3_server: S3Server) -> None:
    """A text output, which the page may not fetch from another origin, is shown streamed
    and linked."""
    page = open_playground(signed_in, "demo-text")
    fill(page, {"prompt": "the harbour", "max_tokens": 8})
    run(page)
    finished(page)
    assert page.inner_text("[data-stream-text]").strip()
    link = page.locator("[data-output-text] a")
    link.wait_for()
    assert (link.get_attribute("href") or "").startswith(f"{s3_server.endpoint_url}/")
