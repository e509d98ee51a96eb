"""The console: the web page genq serves at ``/``, with its assets under ``/console/``.

The page is static files shipped in the package (``genq/console/``): no build step, nothing
from another origin. They are read once, at start-up, and answered with an ETag and
``Cache-Control: no-cache``, so a browser revalidates each (a 304 when unchanged) and never
runs an older script beside a newer page after an upgrade. Every answer carries a
Content-Security-Policy that allows scripts and styles from genq alone, and media from genq
or, where result files are presigned links to object storage, from that storage's origin.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genq.settings import Settings
from genq.storage import FileStorage

FOLDER = Path(__file__).parent.parent / "console"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(folder: Path) -> dict[str, Asset]:
    """The files under ``folder`` that the page serves, by their path from it."""
    assets = {}
    for path in sorted(folder.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[path.relative_to(folder).as_posix()] = Asset(body, content_type, etag)
    return assets


def none_match(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag``: ``*``, or a list of entity tags
    compared weakly (a ``W/`` prefix is ignored), as RFC 9110 says for GET and HEAD."""
    if header.strip() == "*":
        return True
    tags = (tag.strip() for tag in header.split(","))
    return any(tag.removeprefix("W/") == etag for tag in tags)


def storage_origin(storage: FileStorage) -> str | None:
    """The origin of the links to result files, when they point away from genq."""
    if storage.served_by_genq:
        return None
    link = storage.link("console/0/probe", time.time() + 60, "http://genq.invalid/")
    parts = urlsplit(link)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(media_origin: str | None) -> dict[str, str]:
    media = "'self' data: blob:" + (f" {media_origin}" if media_origin else "")
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def console_routes(settings: Settings, storage: FileStorage) -> list[BaseRoute]:
    """The page and its assets."""
    assets = load_assets(FOLDER)
    headers = security_headers(storage_origin(storage))

    def answer(request: Request, name: str) -> Response:
        asset = assets.get(name)
        if asset is None:
            return Response("not found", status_code=404, media_type="text/plain", headers=headers)
        cache = {**headers, "ETag": asset.etag, "Cache-Control": "no-cache"}
        if none_match(request.headers.get("if-none-match", ""), asset.etag):
            return Response(status_code=304, headers=cache)
        body = b"" if request.method == "HEAD" else asset.body
        response = Response(body, media_type=asset.content_type, headers=cache)
        response.headers["Content-Length"] = str(len(asset.body))
        return response

    async def page(request: Request) -> Response:
        return answer(request, "index.html")

    async def asset(request: Request) -> Response:
        return answer(request, request.path_params["path"])

    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/console/{path:path}", asset, methods=["GET", "HEAD"]),
    ]
