"""The API docs pages load everything they need from genq: they work offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.conftest import GenqServer

#: What each kind of asset a page references must be served as.
CONTENT_TYPES = {
    "script": ("text/javascript", "application/javascript"),
    "stylesheet": ("text/css",),
    "icon": ("image/",),
}


class Assets(HTMLParser):
    """The scripts, stylesheets, icons and images a page references, by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag == "script" and named.get("src"):
            self.found.append(("script", named["src"]))
        elif tag == "link" and named.get("href"):
            rel = named.get("rel", "")
            self.found.append(("stylesheet" if "stylesheet" in rel else "icon", named["href"]))
        elif tag == "img" and named.get("src"):
            self.found.append(("icon", named["src"]))


def page_assets(html: str) -> list[tuple[str, str]]:
    parser = Assets()
    parser.feed(html)
    return parser.found


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_genq(server: GenqServer, page: str) -> None:
    """The Swagger UI and ReDoc pages name no other host, and every script, stylesheet and
    icon they reference is served by genq with 200 and its content type."""
    response = httpx.get(server.url + page)
    assert response.status_code == 200
    html = response.text
    own = urlsplit(server.url).netloc
    for url in re.findall(r"https?://[^\s\"'<>)]+", html):
        assert urlsplit(url).netloc == own, url
    assets = page_assets(html)
    kinds = {kind for kind, _ in assets}
    assert {"script", "icon"} <= kinds
    if page == "/docs":
        assert "stylesheet" in kinds
    for kind, reference in assets:
        url = urljoin(server.url + page, reference)
        assert urlsplit(url).netloc == own, reference
        asset = httpx.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[kind]), url


@pytest.mark.backends("sqlite")
def test_docs_page_reads_genqs_own_document(server: GenqServer) -> None:
    """The Swagger UI page points at genq's OpenAPI document, which it serves."""
    html = httpx.get(server.url + "/docs").text
    assert "url: '/openapi.json'" in html
    assert httpx.get(server.url + "/openapi.json").json()["info"]["title"] == "genq"
