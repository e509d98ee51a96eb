"""Replicate's predictions API, served under `/replicate`
(`REPLICATE_BASE_URL=http://HOST/replicate`)."""

from __future__ import annotations

from starlette.responses import Response

from genq.errors import ServiceError
from genq.http.dialects.base import dialect_router
from genq.http.dialects.replicate import DIALECT
from genq.http.responses import JSONResponse


def render_error(exc: ServiceError) -> Response:
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


router = dialect_router(render_error, DIALECT.title)
