"""Response classes shared by the API surfaces."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
