"""genq's event stream response writes each frame straight to the server. In process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from genq.http.responses import EventStream


def test_frames_are_written_without_a_cancel_scope_apiece(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame arrives, in order, and none of them went through ``sse-starlette``'s
    per-write timeout scope (a fifth of the CPU of an event delivered to many followers)."""

    def no_scope(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a write went through a cancel scope")

    monkeypatch.setattr(anyio, "move_on_after", no_scope)

    async def frames() -> AsyncIterator[bytes]:
        for n in range(3):
            yield f"id: {n}\r\nevent: progress\r\ndata: {{}}\r\n\r\n".encode()

    async def events(request: Request) -> EventStream:
        return EventStream(frames())

    app = Starlette(routes=[Route("/events", events)])
    with TestClient(app) as client, client.stream("GET", "/events") as response:
        body = b"".join(response.iter_bytes())
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [line for line in body.split(b"\r\n") if line.startswith(b"id:")] == [
        b"id: 0",
        b"id: 1",
        b"id: 2",
    ]
