"""Steps the playground tests share: open a model's form, fill it, run it, wait for the end."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.console.conftest import Watched

TERMINAL = ("succeeded", "failed", "canceled", "expired")


def open_playground(watch: Watched, model: str) -> Page:
    page = watch.page
    page.goto(f"{watch.origin}/#/play/{model}")
    page.wait_for_selector(f"form[data-playground='{model}']")
    return page


def fill(page: Page, values: dict[str, Any]) -> None:
    """Type each value into its field, unfolding the advanced ones where needed."""
    for name, value in values.items():
        field = page.locator(f"[data-field='{name}']")
        if not field.is_visible():
            page.click("details.advanced summary")
        if isinstance(value, bool):
            field.set_checked(value)
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(label=str(value))
        else:
            field.fill(str(value))


def run(page: Page) -> str:
    """Submit the form; the new job's id."""
    page.click("form[data-playground] button[type=submit]")
    live = page.locator("[data-run-area] [data-job]")
    live.wait_for()
    return live.get_attribute("data-job") or ""


def wait_status(page: Page, status: str, timeout: float = 30_000) -> None:
    page.wait_for_selector(f"[data-live-status] [data-status='{status}']", timeout=timeout)


def finished(page: Page, status: str = "succeeded") -> None:
    """Wait until the live view shows the job ended with ``status`` and drew its results."""
    wait_status(page, status)
    page.wait_for_selector("[data-live-results] dl.facts")
