"""Response classes shared by the API surfaces."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import anyio
import orjson
from sse_starlette import EventSourceResponse
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import Message, Receive, Scope, Send

from genq.errors import Missing, RangeNotSatisfiable, ServiceError, ValidationFailed

#: A Range header with more parts than this is ignored, as RFC 9110 section 14.2 allows for
#: many small ranges (a sign of a broken client or of a denial-of-service attempt).
MAX_RANGES = 100
# Positions of up to 18 digits: a longer one is past any file, and Python refuses to read
# numbers of thousands of digits; such a header is ignored like any other invalid one.
_RANGE_SPEC = re.compile(r"(\d{0,18})-(\d{0,18})", re.ASCII)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def request_invalid(errors: Sequence[Any]) -> ValidationFailed:
    """The 422 for a request that Pydantic refused (its body, or a route's parameters),
    naming each failing field."""
    details = [{"path": "/".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errors]
    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details)
    return ValidationFailed(f"invalid request: {summary}", details=details)


def byte_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The ranges (first and last byte, both included) of a ``Range`` header that a file of
    ``size`` bytes can serve, clipped to it; ``[]`` when none can (416). None when the header
    is to be ignored and the whole file served (RFC 9110 section 14.2): another unit than
    bytes, a syntax error, a last byte before the first, too many ranges, an empty file."""
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes" or size == 0:
        return None
    # A list may have empty elements, which a recipient skips (RFC 9110 section 5.6.1).
    parts = [part.strip() for part in specs.split(",") if part.strip()]
    if not parts or len(parts) > MAX_RANGES:
        return None
    ranges = []
    for part in parts:
        match = _RANGE_SPEC.fullmatch(part)
        if match is None or match.group(1) == match.group(2) == "":
            return None
        first, last = match.group(1), match.group(2)
        if first == "":  # the last N bytes
            if int(last) > 0:
                ranges.append((max(size - int(last), 0), size - 1))
        elif last != "" and int(last) < int(first):
            return None
        elif int(first) < size:
            ranges.append((int(first), min(int(last), size - 1) if last else size - 1))
    return ranges


class FileDownload(FileResponse):
    """A file, whole or in the byte ranges asked for, with HEAD answered by its headers.

    Range handling follows RFC 9110: an invalid ``Range`` is ignored (the whole file, 200),
    one of which no range can be served is a 416 in genq's error shape, and ranges past the
    end are clipped. Only ranges in that plain form reach Starlette's own range handling."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            stat = await anyio.to_thread.run_sync(os.stat, self.path)
        except FileNotFoundError:  # removed (deleted, retired) since the route found it
            gone = Missing("this file no longer exists", code="file_not_found")
            await error_answer(gone)(scope, receive, send)
            return
        if self.stat_result is None:
            self.stat_result = stat
            self.set_stat_headers(stat)
        request_headers = Headers(scope=scope)
        header = request_headers.get("range")
        if_range = request_headers.get("if-range")
        if if_range is not None and if_range not in (
            self.headers.get("etag"),
            self.headers.get("last-modified"),
        ):
            # A stale validator: the whole file, whatever the range (RFC 9110 13.1.5).
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"range"]}
            header = None
        if header is not None:
            ranges = byte_ranges(header, stat.st_size)
            if ranges == []:
                refused = RangeNotSatisfiable(
                    f"no part of the range {header[:100]!r} is in this {stat.st_size}-byte file"
                )
                answer = error_answer(refused, {"Content-Range": f"bytes */{stat.st_size}"})
                await answer(scope, receive, send)
                return
            kept = [(k, v) for k, v in scope["headers"] if k != b"range"]
            if ranges is not None:
                plain = ",".join(f"{first}-{last}" for first, last in ranges)
                kept.append((b"range", f"bytes={plain}".encode()))
            scope = {**scope, "headers": kept}
        await super().__call__(scope, receive, send)


def error_answer(exc: ServiceError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)


class EventStream(EventSourceResponse):
    """A server-sent event stream, pinged every 15 s, ended when the client leaves.

    ``sse-starlette`` wraps every write in a cancel scope for its per-send timeout, even with
    none set: finding the async library and the task for it was a fifth of the CPU of
    delivering an event to thousands of followers. genq sets no send timeout (a stalled
    client is held back by the server's flow control, and let go when it hangs up), so each
    write goes straight to the server.
    """

    def __init__(self, frames: Any, **options: Any) -> None:
        super().__init__(frames, ping=15, send_timeout=None, **options)

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        await send(message)
