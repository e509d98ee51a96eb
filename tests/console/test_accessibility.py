"""The console by keyboard alone, with every control named for assistive technology."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import GenqServer
from tests.console.conftest import Watched

UNLABELLED = """() => [...document.querySelectorAll('main input, main select, main textarea')]
    .filter(el => el.type !== 'hidden')
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby'))
    .map(el => el.outerHTML)"""


def test_sign_in_and_a_run_by_keyboard_alone(watched: Watched, console_server: GenqServer) -> None:
    """The key field has focus on arrival; Enter signs in; Tab goes through the playground's
    fields in the schema's order to Run, and Enter runs the job."""
    page = watched.page
    page.goto(f"{watched.origin}/")
    page.keyboard.type(console_server.key)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-model='demo-text']")
    page.goto(f"{watched.origin}/#/play/demo-text")
    page.wait_for_selector("form[data-playground]")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e.dataset.field || e.dataset.action || e.textContent.trim(); }"
        )
        order.append(focused)
        if focused == "Run":
            break
    assert order[-1] == "Run", order
    fields = [f for f in order if f in ("prompt", "max_tokens", "temperature", "seed")]
    assert fields == ["prompt", "max_tokens", "temperature", "seed"]
    assert order.index("seed") < order.index("randomize") < order.index("Run")
    page.focus("[data-field=prompt]")
    page.keyboard.type("a walk by the sea")
    page.focus("form[data-playground] button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("[data-live-status] [data-status='succeeded']")).to_have_count(1)


def test_every_control_has_a_name(signed_in: Watched) -> None:
    """Each input of every model's playground and of the keys, usage and admin pages has a
    label or an accessible name."""
    page = signed_in.page
    # Signed in, the nav shows before the models list has come: wait for the list.
    page.wait_for_selector("[data-model]")
    names = page.eval_on_selector_all("[data-model]", "els => els.map(e => e.dataset.model)")
    assert names
    for name in names:
        page.goto(f"{signed_in.origin}/#/play/{name}")
        page.wait_for_selector(f"form[data-playground='{name}']")
        assert page.evaluate(UNLABELLED) == [], name
    for section, ready in (
        ("keys", "[data-key-row]"),
        ("usage", "[data-balance]"),
        ("admin", "[data-account-row]"),
        ("jobs", "#filter-status"),
    ):
        page.goto(f"{signed_in.origin}/#/{section}")
        page.wait_for_selector(ready)
        assert page.evaluate(UNLABELLED) == [], section
