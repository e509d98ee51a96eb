"""Response classes shared by the API surfaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Response

from genq.errors import ValidationFailed


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def request_invalid(errors: Sequence[Any]) -> ValidationFailed:
    """The 422 for a request that Pydantic (or FastAPI's parameter checks) refused, naming
    each failing field."""
    details = [{"path": "/".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errors]
    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details)
    return ValidationFailed(f"invalid request: {summary}", details=details)
