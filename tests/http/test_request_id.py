"""Every answer carries an ``X-Request-ID``: the client's when it is sane, else a new one, on
errors too; the log lines written while the request runs carry it."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from genq.http.app import Front
from genq.logs import JsonFormatter
from tests.conftest import GenqServer

log = logging.getLogger("genq.test_request_id")


async def logs_a_line(request: object) -> PlainTextResponse:
    log.warning("answering")
    return PlainTextResponse("ok")


async def breaks(request: object) -> PlainTextResponse:
    raise RuntimeError("a defect")


APP = Front(Router([Route("/line", logs_a_line), Route("/broken", breaks)]), limit=1000)


def get(path: str, headers: dict[bytes, bytes] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://genq") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


@pytest.mark.parametrize(
    "given",
    [None, b"", b"x" * 129, b"two words", "caf\u00e9".encode()],
    ids=["none", "empty", "too-long", "space", "not-ascii"],
)
def test_a_new_id_unless_the_client_sent_a_sane_one(given: bytes | None) -> None:
    """A missing, empty, overlong or unprintable id is replaced by a new one."""
    headers = None if given is None else {b"X-Request-ID": given}
    first, second = get("/line", headers), get("/line", headers)
    assert len(first.headers["x-request-id"]) == 24
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_the_clients_id_is_echoed_and_logged() -> None:
    """A sane id comes back as sent, and the JSON log line written during the request
    carries it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    try:
        answer = get("/line", {b"X-Request-ID": b"req-42:abc/DEF"})
    finally:
        log.removeHandler(handler)
    assert answer.headers["x-request-id"] == "req-42:abc/DEF"
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "req-42:abc/DEF"
    assert line["message"] == "answering"
    assert line["level"] == "WARNING"
    assert line["logger"] == "genq.test_request_id"
    assert line["time"].endswith("Z")


def test_error_answers_carry_the_id(caplog: pytest.LogCaptureFixture) -> None:
    """The router's 404 and a defect's 500 carry the request id too."""
    missing = get("/nowhere", {b"X-Request-ID": b"lost-1"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "lost-1"
    with caplog.at_level(logging.CRITICAL, logger="genq.http"):
        broken = get("/broken")
    assert broken.status_code == 500
    assert len(broken.headers["x-request-id"]) == 24


@pytest.mark.backends("sqlite")
def test_a_real_server_echoes_the_id(server: GenqServer) -> None:
    """genq serve answers its routes, and its refusals, with the request id."""
    sent = {"X-Request-ID": "probe-7"}
    assert httpx.get(f"{server.url}/healthz", headers=sent).headers["x-request-id"] == "probe-7"
    refused = httpx.get(f"{server.url}/v1/jobs", headers=sent)
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "probe-7"
    made = httpx.get(f"{server.url}/v1/jobs/nope", headers={"Authorization": "Bearer x"})
    assert len(made.headers["x-request-id"]) == 24
