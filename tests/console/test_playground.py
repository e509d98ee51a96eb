"""The playground's form and live view: limits checked before submitting, the server's
refusals shown on their fields, progress followed, a running job canceled, and what users
and jobs wrote rendered as text."""

from __future__ import annotations

import json
import re
import shlex
import time

from playwright.sync_api import Route, expect

from genq.cli.run import parse_input
from tests.conftest import GenqServer
from tests.console.conftest import Watched
from tests.console.playground import fill, finished, open_playground, run, wait_status

XSS = "<img src=x onerror=alert(1)>"


def test_progress_moves_and_cancel_stops_a_running_job(signed_in: Watched) -> None:
    """A noop job with steps moves the progress bar while it runs, and Cancel ends it
    canceled."""
    page = open_playground(signed_in, "noop")
    fill(page, {"sleep_ms": 20000, "steps": 200})
    run(page)
    wait_status(page, "running")
    seen: list[float] = []
    deadline = time.monotonic() + 10
    while len({v for v in seen if 0 < v < 1}) < 3 and time.monotonic() < deadline:
        seen.append(page.eval_on_selector("[data-run-area] progress", "p => p.value"))
        time.sleep(0.15)
    moving = [v for v in seen if 0 < v < 1]
    assert len(set(moving)) >= 3, seen
    assert moving == sorted(moving)
    assert "step" in page.inner_text("[data-steps]")
    page.click("[data-action=cancel]")
    finished(page, "canceled")
    assert page.locator("[data-action=cancel]").is_hidden()


def test_a_value_over_a_limit_is_refused_in_the_form(signed_in: Watched) -> None:
    """A width over the schema's maximum is flagged on its field with the limit, and no job
    is submitted."""
    page = open_playground(signed_in, "demo-image")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    fill(page, {"prompt": "a cat", "width": 9999})
    page.click("form[data-playground] button[type=submit]")
    error = page.locator("[data-name=width] .error")
    assert error.inner_text() == "9999 is greater than the maximum of 2048"
    assert page.get_attribute("[data-field=width]", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.dataset.field") == "width"
    fill(page, {"prompt": ""})
    page.click("form[data-playground] button[type=submit]")
    assert page.inner_text("[data-name=prompt] .error") == "is required"
    assert posts == []


def test_a_half_typed_number_is_refused_in_the_form(signed_in: Watched) -> None:
    """A number field holding what is not yet a number ("12e", which the browser reads as
    "") says it must be a number, required or not, and nothing is submitted."""
    page = open_playground(signed_in, "demo-image")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    fill(page, {"prompt": "a cat"})
    page.click("details.advanced summary")
    page.locator("[data-field=width]").press_sequentially("12e")
    page.click("form[data-playground] button[type=submit]")
    assert page.inner_text("[data-name=width] .error") == "must be a number"
    assert page.get_attribute("[data-field=width]", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.dataset.field") == "width"
    assert posts == []


def test_number_fields_step_by_the_schemas_hint(signed_in: Watched) -> None:
    """A number field steps by its x-playground step (width: 64), a whole number by 1, and
    the arrow keys move by it."""
    page = open_playground(signed_in, "demo-image")
    page.click("details.advanced summary")
    assert page.get_attribute("[data-field=width]", "step") == "64"
    page.fill("[data-field=width]", "512")
    page.press("[data-field=width]", "ArrowUp")
    assert page.input_value("[data-field=width]") == "576"
    page = open_playground(signed_in, "noop")
    assert page.get_attribute("[data-field=steps]", "step") == "1"


def test_the_servers_422_is_shown_on_its_field(signed_in: Watched) -> None:
    """When the server still refuses an input (here a request changed on its way), its 422
    details appear on the field they name."""
    page = open_playground(signed_in, "demo-image")

    def tamper(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        body["input"]["steps"] = 500
        route.continue_(post_data=json.dumps(body))

    page.route("**/v1/jobs", tamper)
    fill(page, {"prompt": "a cat"})
    page.click("form[data-playground] button[type=submit]")
    error = page.locator("[data-name=steps] .error")
    error.wait_for()
    assert error.inner_text() == "500 is greater than the maximum of 50"
    assert page.locator("details.advanced").get_attribute("open") is not None
    assert page.locator("[data-run-area] [data-job]").count() == 0


def test_price_estimate_and_copy_as_follow_the_form(signed_in: Watched) -> None:
    """The estimate follows the number of images; the seed can be randomized; "Copy as"
    writes the current input as curl, Python and genq run."""
    page = open_playground(signed_in, "demo-image")
    fill(page, {"prompt": "it's a cat", "num_images": 4})
    assert page.inner_text("[data-estimate]") == "Estimated cost: 0.008 credits"
    page.click("[data-action=randomize]")
    seed = int(page.input_value("[data-field=seed]"))
    assert 0 <= seed <= 4294967295
    page.click("[data-copy=curl]")
    curl = page.inner_text("pre[data-snippet]")
    assert f"{signed_in.origin}/v1/jobs" in curl
    assert f'"seed":{seed}' in curl
    assert "it'\\''s a cat" in curl
    page.click("[data-copy=python]")
    assert 'job = client.run("demo-image", {\n    "prompt": "it\'s a cat"' in page.inner_text(
        "pre[data-snippet]"
    )
    page.click("[data-copy=cli]")
    cli = page.inner_text("pre[data-snippet]")
    assert "genq run demo-image" in cli
    assert "--input num_images=4" in cli
    assert f"--input seed={seed}" in cli


#: Strings that Python's json.loads, which `genq run --input` tries first, would read as JSON.
LOOKS_LIKE_JSON = [
    "Infinity",
    "-Infinity",
    "NaN",
    "[NaN, 1]",
    '{"a": Infinity}',
    "42",
    "true",
    "null",
    '"quoted"',
    " 7 ",
    "it's a cat",
    "plain words",
]


def shell_words(snippet: str) -> list[str]:
    return shlex.split(snippet.replace("\\\n", " "))


def test_copy_as_genq_run_reads_back_as_the_forms_input(signed_in: Watched) -> None:
    """The "genq run" snippet's --input arguments, read as genq run reads them, give the
    form's input (the curl snippet's), strings that Python would take for JSON included."""
    page = open_playground(signed_in, "noop")
    for text in LOOKS_LIKE_JSON:
        fill(page, {"fail": text, "output_text": text})
        page.click("[data-copy=curl]")
        curl = shell_words(page.inner_text("pre[data-snippet]"))
        expected = json.loads(curl[curl.index("-d") + 1])["input"]
        assert expected["fail"] == text
        page.click("[data-copy=cli]")
        words = shell_words(page.inner_text("pre[data-snippet]"))
        pairs = [words[i + 1] for i, word in enumerate(words) if word == "--input"]
        assert parse_input(pairs, None) == expected, text


def test_what_users_and_jobs_wrote_is_shown_as_text(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """A prompt and an error message that hold HTML are shown as those characters: no
    element is made from them, no script runs, nothing is fetched from elsewhere."""
    page = open_playground(signed_in, "demo-text")
    fill(page, {"prompt": XSS, "max_tokens": 5})
    job_id = run(page)
    finished(page)
    page = open_playground(signed_in, "noop")
    fill(page, {"fail": XSS})
    failed_id = run(page)
    finished(page, "failed")
    assert XSS in page.inner_text("[data-live-results] [data-fact=error]")

    page.goto(f"{signed_in.origin}/#/jobs/{job_id}")
    page.wait_for_selector("[data-input]")
    assert XSS in page.inner_text("[data-input]")
    page.goto(f"{signed_in.origin}/#/jobs/{failed_id}")
    page.wait_for_selector("[data-fact=error]")
    assert XSS in page.inner_text("[data-fact=error]")
    page.goto(f"{signed_in.origin}/#/jobs")
    page.wait_for_selector(f"[data-job-row='{failed_id}']")
    time.sleep(0.3)
    assert page.locator("img[src='x']").count() == 0
    assert signed_in.dialogs == []
    assert signed_in.foreign == []


def test_a_dropped_event_stream_is_resumed_after_the_last_event(signed_in: Watched) -> None:
    """When the job's event stream breaks off, the page reconnects with Last-Event-ID and
    shows each piece of streamed text once."""
    page = open_playground(signed_in, "demo-text")
    resumed_after: list[str | None] = []
    kept_ids: list[str] = []

    def drop_first(route: Route) -> None:
        if resumed_after:
            resumed_after.append(route.request.headers.get("last-event-id"))
            route.continue_()
            return
        resumed_after.append(route.request.headers.get("last-event-id"))
        # The whole stream, cut after its fourth event: the connection "drops" there.
        frames = [f for f in re.split(r"\r?\n\r?\n", route.fetch().text()) if f.strip()][:4]
        kept_ids.extend(
            line.removeprefix("id:").strip()
            for frame in frames
            for line in frame.splitlines()
            if line.startswith("id:")
        )
        body = "\r\n\r\n".join(frames) + "\r\n\r\n"
        route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)

    page.route("**/v1/jobs/*/events", drop_first)
    fill(page, {"prompt": "the sea", "max_tokens": 24, "token_delay_ms": 20})
    run(page)
    finished(page)
    assert resumed_after == [None, kept_ids[-1]]
    streamed = page.inner_text("[data-stream-text]")
    page.wait_for_function(
        "() => !document.querySelector('[data-output-text]').textContent.startsWith('…')"
    )
    assert streamed.strip() == page.inner_text("[data-output-text]").strip()


def test_a_running_jobs_page_follows_it_and_cancels_it(
    signed_in: Watched, console_server: GenqServer
) -> None:
    """A running job's own page shows its progress and events as they come, and cancels it."""
    with console_server.client() as api:
        job = api.post(
            "/v1/jobs", json={"model": "noop", "input": {"sleep_ms": 20000, "steps": 100}}
        )
    job_id = job.json()["id"]
    page = signed_in.page
    page.goto(f"{signed_in.origin}/#/jobs/{job_id}")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-events] li').length >= 4"
        " && document.querySelector('[data-job] progress').value > 0"
    )
    expect(page.locator("[data-events]")).to_contain_text("progress")
    page.click("[data-action=cancel]")
    wait_status(page, "canceled")
    expect(page.locator("[data-events]")).to_contain_text('status {"status":"canceled"}')
