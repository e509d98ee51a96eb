"""Clients that go away mid-request are no error of the server's."""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def send_part_of_a_body(server: GenqServer, path: str, auth: str) -> None:
    """POST ``path`` announcing 1000 bytes of body, send 10 of them, and hang up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"model": '
        )
        time.sleep(0.2)  # the server is reading the body when the connection closes


def test_a_client_that_hangs_up_mid_body_is_not_logged_as_an_error(make_server) -> None:
    """A client that closes its connection halfway through a body, on the native API and on
    a dialect, leaves no ERROR and no traceback in the server's log, and the server goes on."""
    server: GenqServer = make_server()
    send_part_of_a_body(server, "/v1/jobs", f"Authorization: Bearer {server.key}")
    send_part_of_a_body(server, "/v2/noop", f"x-api-key: {server.key}")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        log = server.log.read_text()
        assert "ERROR" not in log
        assert "Traceback" not in log
        time.sleep(0.1)
    with server.client() as api:
        response = api.post("/v1/jobs", json={"model": "noop", "input": {}})
        assert response.status_code == 202, response.text
