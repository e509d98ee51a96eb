"""The OpenAPI document's pages: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc).

Both load their scripts, styles and icon from genq itself (``/docs/assets``), not from a CDN,
so they work on a machine without internet access. The assets are the ones the
``fastapi-offline`` package bundles (the one maintained package that ships both Swagger UI
and ReDoc); they are read from its folder, without importing it or the framework it is for.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from genq.http.responses import JSONResponse

ASSETS_URL = "/docs/assets"
DOCUMENT_URL = "/openapi.json"


def asset_folder() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the docs pages need the fastapi-offline package's assets")
    return Path(spec.origin).parent / "static"


def swagger_page(title: str, root: str) -> str:
    # Swagger UI would otherwise send the document to an online validator.
    options = {
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "validatorUrl": None,
    }
    settings = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in options.items())
    return f"""<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{root}{ASSETS_URL}/swagger-ui.css">
<link rel="shortcut icon" href="{root}{ASSETS_URL}/favicon.png">
<title>{title} - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({{
url: '{root}{DOCUMENT_URL}',
{settings},
presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}})
</script>
</body>
</html>
"""


def redoc_page(title: str, root: str) -> str:
    return f"""<!DOCTYPE html>
<html>
<head>
<title>{title} - ReDoc</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="shortcut icon" href="{root}{ASSETS_URL}/favicon.png">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript to show the documentation.</noscript>
<redoc spec-url="{root}{DOCUMENT_URL}"></redoc>
<script src="{root}{ASSETS_URL}/redoc.standalone.js"> </script>
</body>
</html>
"""


def root_path(request: Request) -> str:
    """The prefix a proxy serves genq under (``--root-path``), without its last ``/``."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def docs_routes(title: str) -> list[BaseRoute]:
    """The document, its two pages and their assets (none of them in the document)."""

    async def document(request: Request) -> JSONResponse:
        document: dict[str, Any] = request.app.openapi()
        if root := root_path(request):
            # Behind a proxy's prefix, "try it out" sends its requests under that prefix.
            document = {**document, "servers": [{"url": root}]}
        return JSONResponse(document)

    async def swagger(request: Request) -> HTMLResponse:
        return HTMLResponse(swagger_page(title, root_path(request)))

    async def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(redoc_page(title, root_path(request)))

    return [
        Route(DOCUMENT_URL, document, methods=["GET"]),
        Route("/docs", swagger, methods=["GET"]),
        Route("/redoc", redoc, methods=["GET"]),
        Mount(ASSETS_URL, StaticFiles(directory=asset_folder()), name="docs-assets"),
    ]
