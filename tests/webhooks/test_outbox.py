"""The dispatcher on its own, over a SQLite store: whatever goes wrong inside one attempt is a
failed attempt, counted and retried within the window, never a call left to be sent again
and again; a 429's ``Retry-After`` is kept between the backoff and the window's end."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from genq.jobs import DeliveryRecord, DeliveryState, JobRecord, WebhookEvent
from genq.notify.local import LocalNotifier
from genq.service import webhook_send as send
from genq.service.outbox import Dispatcher
from genq.settings import Settings
from genq.store import JobStore
from genq.store.sqlite import SQLiteStore
from tests.store.test_store_contract import new_job


def due_call(store: JobStore) -> str:
    """A canceled queued job with one due ``completed`` call; its id."""
    account = store.ensure_account("alice", Decimal(5), 0.0)
    made = dataclasses.replace(
        new_job(account, created_at=1.0, expires_at=4e9),
        webhook="https://hooks.example.com/genq",
        webhook_events=(WebhookEvent.COMPLETED,),
    )
    job = store.submit(made).job
    store.request_cancel(account.id, job.id, 2.0)
    return job.id


async def broken_render(job: JobRecord, delivery: DeliveryRecord) -> dict[str, Any]:
    raise RuntimeError("cannot render")


async def rounds(dispatcher: Dispatcher, count: int) -> None:
    for _ in range(count):
        await dispatcher.round()
        while dispatcher._tasks:
            await asyncio.wait(set(dispatcher._tasks))


def test_an_attempt_that_raises_is_a_failed_attempt(tmp_path: Path) -> None:
    """A render that raises: the call is counted with its error and retried after the
    backoff; past the retry window it fails."""
    store = SQLiteStore(tmp_path / "genq.db")
    job_id = due_call(store)
    settings = Settings(webhook_backoff_seconds=1000.0, webhook_retry_seconds=2e9)

    async def run() -> None:
        dispatcher = Dispatcher(store, settings, broken_render, LocalNotifier())
        await rounds(dispatcher, 3)

    try:
        asyncio.run(run())
        [call] = store.deliveries(job_id)
        assert (call.state, call.attempts) == (DeliveryState.PENDING, 1)
        assert "cannot render" in (call.last_error or "")
        assert call.next_at > call.created_at + 500
        asyncio.run(run())
        assert store.deliveries(job_id)[0].attempts == 1

        settings = Settings(webhook_backoff_seconds=1000.0, webhook_retry_seconds=1.0)
        store.put_back([call], 0.0)
        asyncio.run(run())
        [call] = store.deliveries(job_id)
        assert (call.state, call.attempts) == (DeliveryState.FAILED, 2)
    finally:
        store.close()


def answering(monkeypatch: pytest.MonkeyPatch, answer: send.Answer) -> None:
    async def attempt(*args: Any, **kwargs: Any) -> send.Answer:
        return answer

    monkeypatch.setattr(send, "attempt", attempt)


async def plain_render(job: JobRecord, delivery: DeliveryRecord) -> dict[str, Any]:
    return {"id": job.id, "event": delivery.event.value}


def retried_at(store: JobStore, job_id: str, settings: Settings) -> float:
    """When the job's one call is due again after one round, less when it was taken."""

    async def run() -> float:
        dispatcher = Dispatcher(store, settings, plain_render, LocalNotifier())
        started = time.time()
        await rounds(dispatcher, 1)
        [call] = store.deliveries(job_id)
        assert (call.state, call.attempts) == (DeliveryState.PENDING, 1)
        return call.next_at - started

    return asyncio.run(run())


def test_retry_after_zero_waits_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 asking for no wait (``Retry-After: 0`` or a past date) waits the backoff."""
    answering(monkeypatch, send.Answer(429, "429", retry_after=0.0))
    store = SQLiteStore(tmp_path / "genq.db")
    try:
        job_id = due_call(store)
        settings = Settings(webhook_backoff_seconds=100.0, webhook_retry_seconds=2e9)
        assert 79 < retried_at(store, job_id, settings) < 121
    finally:
        store.close()


def test_a_huge_retry_after_is_cut_to_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 asking for longer than the retry window has left is tried once more at its
    end, not failed at once nor kept past it."""
    answering(monkeypatch, send.Answer(429, "429", retry_after=float("inf")))
    store = SQLiteStore(tmp_path / "genq.db")
    try:
        job_id = due_call(store)
        settings = Settings(webhook_backoff_seconds=1.0, webhook_retry_seconds=2e9)
        retried_at(store, job_id, settings)
        [call] = store.deliveries(job_id)
        assert call.next_at == call.created_at + 2e9
    finally:
        store.close()
