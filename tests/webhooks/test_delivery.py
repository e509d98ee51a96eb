"""Webhook calls from a real ``genq serve`` to a real receiver on loopback: signed per Standard
Webhooks (checked with the independent ``standardwebhooks`` package and with the client's
``genq.webhooks.verify``), retried on 5xx with growing gaps, after ``Retry-After`` on 429,
given up on another 4xx, kept across a SIGKILL of the server, and never held up by another
receiver that hangs."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import standardwebhooks

import genq
from tests.conftest import GenqServer, wait_for, wait_until
from tests.webhooks.receiver import Answer, Receiver, receivers

# Loopback receivers over plain http, retried quickly.
HOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_allow_http": True,
    "webhook_backoff_seconds": 0.3,
    "webhook_timeout_seconds": 2.0,
    "webhook_retry_seconds": 60.0,
    "workers": 1,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from (r[0] for r in receivers(1))


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    """One server with HOOK_SETTINGS (SQLite and local files) for the tests of how one call
    is answered: each test has a receiver of its own, so its calls are its own."""
    server = GenqServer(tmp_path_factory.mktemp("hooks") / "data", **HOOK_SETTINGS).start()
    yield server
    server.close()


def submit(server: GenqServer, url: str, **body: Any) -> dict[str, Any]:
    with server.client() as client:
        answer = client.post(
            "/v1/jobs",
            json={"model": "noop", "input": body.pop("input", {}), "webhook": url, **body},
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())


def job(server: GenqServer, job_id: str) -> dict[str, Any]:
    with server.client() as client:
        return dict(client.get(f"/v1/jobs/{job_id}").json())


def secret(server: GenqServer) -> str:
    with server.client() as client:
        return str(client.get("/v1/webhooks/default/secret").json()["key"])


def delivered(server: GenqServer, job_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The job's webhook calls, once ``count`` of them are no longer pending."""
    found: list[dict[str, Any]] = []

    def settled() -> bool:
        found[:] = job(server, job_id).get("webhooks", [])
        return sum(1 for d in found if d["state"] != "pending") >= count

    wait_until(settled, timeout=20)
    return found


def test_calls_are_signed_and_shown_on_the_job(make_server: Any, receiver: Receiver) -> None:
    """Every event asked for comes, in order (progress once or more: a call that went out
    is not held back for the next), signed with the account's secret as
    ``standardwebhooks`` and ``genq.webhooks.verify`` check it; the body is the job as its
    status read shows it, plus the event; the job lists each call as delivered."""
    server = make_server(**HOOK_SETTINGS)
    events = ["start", "progress", "output", "completed"]
    made = submit(
        server,
        receiver.url,
        input={"steps": 2, "sleep_ms": 200, "output_text": "hi"},
        webhook_events=events,
    )
    assert made["webhook"] == receiver.url
    assert made["webhook_events"] == events
    with server.client() as client:
        wait_for(client, made["id"])
    wait_until(lambda: any(c.json["event"] == "completed" for c in receiver.calls))
    calls = list(receiver.calls)
    key = secret(server)
    assert key.startswith("whsec_")
    for call in calls:
        assert standardwebhooks.Webhook(key).verify(call.body, call.headers) == call.json
        assert genq.webhooks.verify(key, call.headers, call.body) == call.json
        assert call.json["id"] == made["id"]
        assert call.headers["webhook-id"].startswith("msg_")
    called = [c.json["event"] for c in calls]
    assert called[0] == "start"
    assert called[-2:] == ["output", "completed"]
    assert set(called[1:-2]) == {"progress"}
    final = calls[-1].json
    assert final["status"] == "succeeded"
    assert final["outputs"][0]["url"].startswith("http://127.0.0.1:")
    shown = delivered(server, made["id"], len(calls))
    assert [(d["event"], d["state"], d["attempts"], d["last_status"]) for d in shown] == [
        (event, "delivered", 1, 200) for event in called
    ]
    assert {d["id"] for d in shown} == {c.id for c in calls}


def test_a_job_without_webhook_shows_no_webhooks(api: httpx.Client) -> None:
    """A job submitted without a webhook has no webhook fields at all."""
    made = api.post("/v1/jobs", json={"model": "noop"}).json()
    done = wait_for(api, made["id"])
    assert "webhooks" not in done
    assert "webhook" not in done


def test_5xx_is_retried_with_growing_gaps(hook_server: GenqServer, receiver: Receiver) -> None:
    """Three 500s, then a 200: four calls with the same webhook-id, each gap longer than the
    last (0.3 s doubling, ±20 %)."""
    server = hook_server
    receiver.script = [Answer(500), Answer(503), Answer(500)]
    made = submit(server, receiver.url)
    calls = receiver.wait(4)
    assert len({c.id for c in calls}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert 0.2 < gaps[0] < 1.0, gaps
    [shown] = delivered(server, made["id"])
    assert (shown["state"], shown["attempts"], shown["last_status"]) == ("delivered", 4, 200)


def test_429_waits_for_retry_after(hook_server: GenqServer, receiver: Receiver) -> None:
    """A 429 with ``Retry-After: 2`` is retried after 2 s, not after the 0.3 s backoff."""
    server = hook_server
    receiver.script = [Answer(429, {"Retry-After": "2"})]
    submit(server, receiver.url)
    first, second = receiver.wait(2)[:2]
    assert second.id == first.id
    assert second.at - first.at >= 1.9


def test_429_with_retry_after_zero_waits_the_backoff(
    hook_server: GenqServer, receiver: Receiver
) -> None:
    """``Retry-After: 0`` on every 429 is retried after the growing backoff, not at once."""
    server = hook_server
    receiver.default = Answer(429, {"Retry-After": "0"})
    submit(server, receiver.url)
    first, second = receiver.wait(2)[:2]
    assert second.at - first.at >= 0.2
    time.sleep(2.0)
    assert len(receiver.calls) < 8


def test_a_200_with_an_odd_retry_after_is_delivered(
    hook_server: GenqServer, receiver: Receiver
) -> None:
    """A 200 is delivered whatever its headers say: ``Retry-After: ²`` is not read."""
    server = hook_server
    receiver.default = Answer(200, {"Retry-After": "\u00b2"})
    made = submit(server, receiver.url)
    [shown] = delivered(server, made["id"])
    assert (shown["state"], shown["attempts"], shown["last_status"]) == ("delivered", 1, 200)
    time.sleep(1.0)
    assert len(receiver.calls) == 1


def test_other_4xx_stops_the_call(hook_server: GenqServer, receiver: Receiver) -> None:
    """A 404 fails the call at once: one attempt, shown failed with its status."""
    server = hook_server
    receiver.default = Answer(404)
    made = submit(server, receiver.url)
    [shown] = delivered(server, made["id"])
    assert (shown["state"], shown["attempts"], shown["last_status"]) == ("failed", 1, 404)
    time.sleep(1.0)
    assert len(receiver.calls) == 1


# This test and the next are about a killed process. What they need of the store (a job's
# change writes its calls in the same transaction; a call whose attempt never ended is taken
# again once its hold lapses) is checked on both by tests/store/test_webhook_outbox.py.
@pytest.mark.backends("sqlite")
def test_a_call_outlives_a_sigkill(make_server: Any, receiver: Receiver) -> None:
    """The server is killed after the job ended and its call failed once; restarted, it
    sends the call again with the same webhook-id."""
    server = make_server(**{**HOOK_SETTINGS, "webhook_backoff_seconds": 2.0})
    receiver.script = [Answer(500)]
    made = submit(server, receiver.url)
    [first] = receiver.wait(1)
    # Killed once the failed attempt is recorded: killed before, the attempt would never
    # have ended, and the call would count one attempt, not two.
    wait_until(lambda: job(server, made["id"])["webhooks"][0]["attempts"] == 1, timeout=20)
    server.kill()
    server.start()
    # Taken again once its backoff has passed.
    calls = receiver.wait(2, timeout=40)
    assert [c.id for c in calls] == [first.id, first.id]
    assert calls[1].json["status"] == "succeeded"
    [shown] = delivered(server, made["id"])
    assert (shown["state"], shown["attempts"]) == ("delivered", 2)


@pytest.mark.backends("sqlite")
def test_a_job_killed_right_after_it_ended_still_calls(
    make_server: Any, receiver: Receiver
) -> None:
    """A server killed while the receiver is down still sends the call of every job that
    ended, once it is back."""
    server = make_server(**HOOK_SETTINGS)
    receiver.close()
    made = submit(server, receiver.url)
    with server.client() as client:
        wait_for(client, made["id"])
    server.kill()
    back = Receiver(receiver.port)
    try:
        server.start()
        [call] = back.wait(1, timeout=40)
        assert call.json["id"] == made["id"]
    finally:
        back.close()


@pytest.mark.backends("sqlite")
def test_a_hanging_receiver_holds_up_no_other(make_server: Any) -> None:
    """While one receiver hangs on every call (past the call timeout), another's calls and
    the jobs themselves go through at once."""
    server = make_server(**{**HOOK_SETTINGS, "webhook_host_concurrency": 2})
    for slow, fast in receivers(2):
        slow.default = Answer(delay=5.0)
        for _ in range(6):
            submit(server, slow.url)
        slow.wait(2)
        started = time.monotonic()
        made = submit(server, fast.url)
        with server.client() as client:
            assert wait_for(client, made["id"])["status"] == "succeeded"
        [call] = fast.wait(1, timeout=10)
        assert call.at - started < 2.0
        # It came while the slow receiver still hung on its first calls.
        assert call.at < slow.calls[0].at + 5.0
        # The slow host never had more calls under way than its limit: before the first
        # could time out (2 s), no third began.
        assert sum(1 for c in slow.calls if c.at < slow.calls[0].at + 1.5) == 2


@pytest.mark.backends("sqlite")
def test_a_hanging_receivers_backlog_holds_up_no_other(make_server: Any) -> None:
    """Thousands of due calls (of as many jobs) to a receiver that hangs do not delay
    another receiver's call: it arrives within about a second."""
    server = make_server(**{**HOOK_SETTINGS, "webhook_host_concurrency": 1})
    for slow, fast in receivers(2):
        slow.default = Answer(delay=30.0)
        made = submit(server, slow.url)
        slow.wait(1)
        [db] = server.data_dir.glob("**/*.db")
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as con, con:
            [(account,)] = con.execute("SELECT account_id FROM jobs WHERE id = ?", [made["id"]])
            due = time.time() - 5
            con.executemany(
                "INSERT INTO webhook_deliveries (id, job_id, account_id, event, url,"
                " created_at, next_at) VALUES (?, ?, ?, 'completed', ?, ?, ?)",
                [(f"msg_{n}", f"job_{n}", account, slow.url, due, due) for n in range(3000)],
            )
        time.sleep(1.0)
        started = time.monotonic()
        submit(server, fast.url)
        [call] = fast.wait(1, timeout=30)
        assert call.at - started < 1.5


@pytest.mark.backends("postgres")
def test_two_servers_send_each_jobs_calls_in_order(make_server: Any, receiver: Receiver) -> None:
    """Two servers sharing one database send every job's ``start`` before its
    ``completed``, each call once."""
    first = make_server("a", **HOOK_SETTINGS)
    (first.data_dir.parent / "b").mkdir()
    (first.data_dir.parent / "b" / "api-key").write_text(first.key)
    shared = {"db": first.settings["db"], "storage": first.settings["storage"]}
    second = make_server("b", **HOOK_SETTINGS, **shared)
    receiver.default = Answer(delay=0.05)
    for n in range(40):
        submit((first, second)[n % 2], receiver.url, webhook_events=["start", "completed"])
    receiver.wait(80, timeout=60)
    time.sleep(1.0)
    calls = list(receiver.calls)
    assert len({c.id for c in calls}) == len(calls) == 80
    events: dict[str, list[str]] = {}
    for call in calls:
        events.setdefault(call.json["id"], []).append(call.json["event"])
    assert all(called == ["start", "completed"] for called in events.values()), events
