"""fal's queue API, served under `/fal` (`FAL_QUEUE_RUN_HOST=HOST/fal`), over TLS."""

from __future__ import annotations

from starlette.responses import Response

from genq.errors import ServiceError
from genq.http.dialects.base import dialect_router
from genq.http.dialects.fal import DIALECT
from genq.http.responses import JSONResponse


def render_error(exc: ServiceError) -> Response:
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


router = dialect_router(render_error, DIALECT.title)
