"""An account's cap of queued jobs held across two real API processes on one database: many
clients submitting at once through both get exactly the cap accepted, every other submit
refused with 429 ``too_many_queued``."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx

from tests.conftest import GenqServer

CAP = 25
CLIENTS = 8
EACH = 10


def test_two_api_processes_hold_one_queued_cap(make_server: Any) -> None:
    """Eight clients send 80 submits at once, alternating between two API processes without
    workers: 25 are queued, 55 refused, and the account shows 25 queued."""
    first: GenqServer = make_server("a", workers=0, max_queued_per_account=CAP)
    shared = {"db": first.settings.get("db") or f"sqlite:///{first.data_dir / 'genq.db'}"}
    if "storage" in first.settings:
        shared["storage"] = first.settings["storage"]
    # The database has its admin key already: the second process makes none of its own.
    (first.data_dir.parent / "b").mkdir()
    (first.data_dir.parent / "b" / "api-key").write_text(first.key)
    second: GenqServer = make_server("b", workers=0, max_queued_per_account=CAP, **shared)
    with first.client() as admin:
        made = admin.post("/v1/admin/accounts", json={"name": "crowd"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]["key"]
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        with first.client(key) as one, second.client(key) as other:
            start.wait()
            for n in range(EACH):
                api = (one, other)[(index + n) % 2]
                response = api.post("/v1/jobs", json={"model": "noop", "input": {}})
                if response.status_code == 429:
                    assert response.json()["error"]["code"] == "too_many_queued"
                with lock:
                    answers[response.status_code] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {202: CAP, 429: CLIENTS * EACH - CAP}
    for server in (first, second):
        usage = httpx.get(
            f"{server.url}/v1/account", headers={"Authorization": f"Bearer {key}"}
        ).json()["usage"]
        assert usage["queued"] == CAP
