"""Browser tests of the console: Debian's Chromium driven by Playwright, one ``genq serve`` per
module and one browser for them all.

The browser is the system's ``chromium`` (``apt-get install chromium``), launched through its
path: Playwright's own download is never used. Without it these tests fail rather than skip,
so that a run that could not drive a browser never passes for one that did.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    Dialog,
    FloatRect,
    Page,
    Request,
    ViewportSize,
    sync_playwright,
)

from tests.conftest import GenqServer

SCREENSHOTS = Path(__file__).parent / "screenshots"
#: Wide enough for the playground's two columns, and the width of the README's pictures.
VIEWPORT: ViewportSize = {"width": 1200, "height": 860}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One browser for these tests, stopped when they end: Playwright's synchronous API keeps an
    event loop running in the main thread while it lives, and ``asyncio.run`` in any later test
    would refuse to start."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the console tests need Debian's Chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """One server for a module's tests (SQLite and local files)."""
    server = GenqServer(tmp_path_factory.mktemp("console") / "data").start()
    yield server
    server.close()


class Watched:
    """A page with what it did that a test may check: dialogs opened, requests to other
    origins, script errors."""

    def __init__(self, page: Page, origin: str, elsewhere: tuple[str, ...] = ()) -> None:
        self.page = page
        self.origin = origin
        #: Other origins the page may load from (object storage's presigned links).
        self.elsewhere = elsewhere
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        # The page asks before deleting a job or a key: the tests say yes.
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def _request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        if f"{parts.scheme}://{parts.netloc}" not in (self.origin, *self.elsewhere):
            self.foreign.append(request.url)

    def sign_in(self, key: str) -> None:
        page = self.page
        page.goto(f"{self.origin}/")
        page.fill("#api-key", key)
        page.click("form button[type=submit]")
        page.wait_for_selector("#nav:not([hidden])")

    def screenshot(self, name: str) -> Path:
        """The page from its top, as wide as the viewport and at most 1100 px high."""
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page = self.page
        page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")
        height = min(page.evaluate("document.documentElement.scrollHeight"), 1100)
        clip: FloatRect = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height}
        page.screenshot(path=path, full_page=True, clip=clip)
        return path


@pytest.fixture(scope="module")
def storage_origins() -> tuple[str, ...]:
    """Origins besides genq's that the module's server links result files to."""
    return ()


@pytest.fixture
def watched(
    browser: Browser, console_server: GenqServer, storage_origins: tuple[str, ...]
) -> Iterator[Watched]:
    """A fresh browser context's page on the module's server; at the end, it must have run
    no script error and asked nothing of another origin (but the result storage's)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    watch = Watched(page, console_server.url, storage_origins)
    yield watch
    context.close()
    assert watch.errors == []
    assert watch.foreign == []


@pytest.fixture
def signed_in(watched: Watched, console_server: GenqServer) -> Watched:
    watched.sign_in(console_server.key)
    return watched
