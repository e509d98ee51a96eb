"""The playground runs each kind of model and shows its results as the browser plays them."""

from __future__ import annotations

import time

from tests.console.conftest import Watched
from tests.console.playground import fill, finished, open_playground, run

MEDIA_READY = """sel => {
    const el = document.querySelector(sel);
    return el !== null && el.readyState >= 2 && Number.isFinite(el.duration) ? el.duration : null;
}"""


def test_image_job_shows_each_image_at_the_asked_size(signed_in: Watched) -> None:
    """demo-image with a changed width, height and count shows that many images, each of
    that natural size, with a download link, size and sha256."""
    page = open_playground(signed_in, "demo-image")
    fill(page, {"prompt": "a lighthouse at dusk", "num_images": 3, "width": 320, "height": 192})
    signed_in.screenshot("playground")
    run(page)
    finished(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-results] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    sizes = page.eval_on_selector_all(
        "[data-results] img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert sizes == [[320, 192]] * 3
    captions = page.locator("[data-results] figcaption").all_inner_texts()
    assert all("sha256" in c and "Download" in c and "KB" in c for c in captions)
    assert "0.006" in page.inner_text("[data-live-results] [data-fact=cost]")
    signed_in.screenshot("image-job")


def test_video_job_plays_with_the_asked_duration(signed_in: Watched) -> None:
    """demo-video's result is a player that loads (readyState ≥ 2) with the clip's length,
    its thumbnail as the poster."""
    page = open_playground(signed_in, "demo-video")
    fill(page, {"prompt": "waves over a reef", "duration": 3})
    run(page)
    finished(page)
    duration = page.wait_for_function(MEDIA_READY, arg="[data-results] video").json_value()
    assert abs(duration - 3) < 0.3
    assert page.get_attribute("[data-results] video", "poster")
    signed_in.screenshot("video-job")


def test_audio_jobs_play_for_a_plausible_time(signed_in: Watched) -> None:
    """demo-speech and demo-audio give players that load, as long as the speech or the
    sound asked for."""
    page = open_playground(signed_in, "demo-speech")
    fill(page, {"text": "Hello from the genq console."})
    run(page)
    finished(page)
    speech = page.wait_for_function(MEDIA_READY, arg="[data-results] audio").json_value()
    assert 0.8 < speech < 8

    page = open_playground(signed_in, "demo-audio")
    fill(page, {"prompt": "rain on a tin roof", "duration": 2})
    run(page)
    finished(page)
    sound = page.wait_for_function(MEDIA_READY, arg="[data-results] audio").json_value()
    assert abs(sound - 2) < 0.2


def test_text_grows_while_the_job_runs(signed_in: Watched) -> None:
    """demo-text's words appear one by one while the job is running, not all at the end."""
    page = open_playground(signed_in, "demo-text")
    fill(page, {"prompt": "the sea", "max_tokens": 40, "token_delay_ms": 50})
    run(page)
    page.wait_for_selector("[data-live-status] [data-status='running']")
    lengths = []
    while page.locator("[data-live-status] [data-status='running']").count():
        lengths.append(len(page.inner_text("[data-stream-text]")))
        time.sleep(0.1)
    finished(page)
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, lengths
    assert lengths == sorted(lengths)
    assert page.inner_text("[data-output-text]").strip()
