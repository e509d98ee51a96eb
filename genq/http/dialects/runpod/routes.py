"""RunPod's serverless endpoints, served under `/runpod/v2`
(`RUNPOD_ENDPOINT_BASE_URL=http://HOST/runpod/v2`)."""

from __future__ import annotations

from starlette.responses import Response

from genq.errors import ServiceError
from genq.http.dialects.base import dialect_router
from genq.http.dialects.runpod import DIALECT
from genq.http.responses import JSONResponse


def render_error(exc: ServiceError) -> Response:
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


router = dialect_router(render_error, DIALECT.title)
