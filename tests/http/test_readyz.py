"""``/readyz`` of a real ``genq serve``: what it checks, and its answer while the database is
away and after it is back (a TCP proxy in front of PostgreSQL, cut and restored)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import GenqServer, wait_until
from tests.tcpproxy import TcpProxy, served_through_proxy


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[GenqServer, TcpProxy]]:
    with served_through_proxy(tmp_path / "data") as both:
        yield both


def test_readyz_follows_the_database(proxied: tuple[GenqServer, TcpProxy]) -> None:
    """200 while PostgreSQL answers, 503 within seconds once it is unreachable (naming the
    store), 200 again when it is back; /healthz stays 200 throughout."""
    pg_server, proxy = proxied
    ready = httpx.get(f"{pg_server.url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["store"]["ok"]
    assert body["checks"]["storage"]["ok"]
    assert "workers" not in body["checks"]  # this process runs none

    proxy.close()
    time.sleep(1.1)  # past the cached answer
    started = time.monotonic()
    down = httpx.get(f"{pg_server.url}/readyz", timeout=10)
    assert time.monotonic() - started < 3.5
    assert down.status_code == 503, down.text
    assert down.json()["status"] == "not_ready"
    assert not down.json()["checks"]["store"]["ok"]
    assert down.json()["checks"]["store"]["error"]
    assert down.json()["checks"]["storage"]["ok"]
    assert "postgres" not in down.text  # the cause is in the log, not in a public answer
    assert httpx.get(f"{pg_server.url}/healthz", timeout=5).status_code == 200

    proxy.open()
    wait_until(
        lambda: httpx.get(f"{pg_server.url}/readyz", timeout=10).status_code == 200, timeout=15
    )
    assert "not ready: store" in pg_server.log.read_text()


@pytest.mark.backends("sqlite")
def test_readyz_counts_the_workers(make_server: Callable[..., GenqServer]) -> None:
    """With workers, /readyz reports how many are alive; the answer is cached for about a
    second (two probes in a row get the same checks)."""
    server = make_server(workers=1)
    wait_until(lambda: httpx.get(f"{server.url}/readyz").json()["checks"]["workers"]["ready"])
    first = httpx.get(f"{server.url}/readyz").json()
    assert first["checks"]["workers"] == {**first["checks"]["workers"], "ok": True, "alive": 1}
    assert httpx.get(f"{server.url}/readyz").json()["checked_at"] == first["checked_at"]
