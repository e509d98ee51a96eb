"""How genq serves the console: its page and assets, their types, caching and security
headers, and what the files themselves may hold."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import genq
from genq.http.console import FOLDER, security_headers, storage_origin
from genq.storage import FileStorage, open_storage
from genq.storage.local import LocalStorage
from tests.conftest import GenqServer
from tests.s3server import S3Server

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:{s}; media-src 'self' data: blob:{s}; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
ASSETS = sorted(p.relative_to(FOLDER).as_posix() for p in FOLDER.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def web(console_server: GenqServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_server.url) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ],
)
def test_page_and_assets_have_their_types_and_security_headers(
    web: httpx.Client, path: str, content_type: str
) -> None:
    """The page and each asset come with their content type, the policy that allows nothing
    from another origin, nosniff and no-referrer, and no key needed."""
    answer = web.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == content_type
    assert answer.headers["content-security-policy"] == POLICY.format(s="")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_assets_are_revalidated_by_etag(web: httpx.Client) -> None:
    """Each answer carries an ETag with no-cache: the browser asks again and gets a 304
    while the file is unchanged."""
    first = web.get("/console/js/app.js")
    assert first.headers["cache-control"] == "no-cache"
    again = web.get("/console/js/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    head = web.head("/")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(web.get("/").content)


def test_if_none_match_is_a_list_of_entity_tags(web: httpx.Client) -> None:
    """If-None-Match answers 304 for ``*``, for the ETag among others and for its weak form,
    and 200 for a tag that merely contains it."""
    etag = web.get("/console/js/app.js").headers["etag"]
    for header in ("*", etag, f'"other", {etag}', f"W/{etag}", f'"other" ,W/{etag}'):
        answer = web.get("/console/js/app.js", headers={"If-None-Match": header})
        assert answer.status_code == 304, header
    for header in (f'"x{etag}x"', '"other"', ""):
        answer = web.get("/console/js/app.js", headers={"If-None-Match": header})
        assert answer.status_code == 200, header


def test_unknown_assets_are_404_and_not_in_the_api_document(web: httpx.Client) -> None:
    """A path under /console/ that names no file is a 404 (never a file outside the
    folder); neither the page nor its assets are operations of the API's document."""
    missing = web.get("/console/nope.js")
    assert missing.status_code == 404
    assert "content-security-policy" in missing.headers
    for path in ("/console/../http/console.py", "/console/%2e%2e/http/console.py"):
        assert web.get(path).status_code == 404, path
    paths = web.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/console")]


class PresignedStorage(LocalStorage):
    """A storage whose links point at object storage, as S3's presigned links do."""

    served_by_genq = False

    def link(self, key: str, expires_at: float, base_url: str) -> str:
        return f"https://s3.example.net:9000/bucket/results/{key}?X-Amz-Signature=abc"


def test_the_policy_admits_the_object_storages_origin(tmp_path: Path) -> None:
    """Where result files are presigned links to object storage, images and media may come
    from that origin (and only there); files genq serves itself need none."""
    local: FileStorage = LocalStorage(tmp_path / "a", b"secret")
    assert storage_origin(local) is None
    origin = storage_origin(PresignedStorage(tmp_path / "b", b"secret"))
    assert origin == "https://s3.example.net:9000"
    policy = security_headers(origin)["Content-Security-Policy"]
    assert policy == POLICY.format(s=" https://s3.example.net:9000")


@pytest.mark.parametrize("name", ASSETS)
def test_the_files_load_nothing_from_elsewhere_and_write_no_html(name: str) -> None:
    """No asset names another origin, the page has no inline script or style (the policy
    would block them), and no script sets HTML from strings."""
    # An SVG's namespace is a name, not a link.
    text = (FOLDER / name).read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
    assert not re.search(r"\b(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), name
    if name.endswith(".html"):
        assert all(' src="/console/' in tag for tag in re.findall(r"<script[^>]*>", text))
        assert "<style" not in text
        assert " style=" not in text
        assert not re.search(r" on[a-z]+=", text)
    if name.endswith(".js"):
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{name} uses {sink}"


def test_the_api_reference_opens_apart_from_the_console() -> None:
    """Each link to /docs (a page with inline scripts and no policy) opens a new tab with
    no opener and no referrer, so it never shares the console tab's sessionStorage."""
    page = (FOLDER / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="/docs"[^>]*>', page)
    assert links
    for link in links:
        assert 'target="_blank"' in link, link
        assert 'rel="noopener noreferrer"' in link, link


def test_the_console_ships_in_the_wheel() -> None:
    """The console's files live inside the package the wheel is built from."""
    root = Path(__file__).parents[2]
    wheel = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert wheel["targets"]["wheel"]["packages"] == ["genq"]
    assert FOLDER.is_relative_to(Path(genq.__file__).parent)
    assert {"index.html", "console.css", "js/app.js"} <= set(ASSETS)


def test_the_origin_of_an_s3_buckets_presigned_links(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an S3-compatible bucket, the policy's storage origin is its endpoint's, as its
    presigned links have it."""
    s3_server.patch_env(monkeypatch)
    storage = open_storage(f"s3://{s3_server.create_bucket()}/results", b"unused")
    assert storage_origin(storage) == s3_server.endpoint_url
