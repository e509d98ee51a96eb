"""The dispatcher on its own, over a SQLite store: whatever goes wrong inside one attempt is a
failed attempt, counted and retried within the window, never a call left to be sent again
and again."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

from genq.jobs import DeliveryState, JobRecord, WebhookEvent
from genq.notify.local import LocalNotifier
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


def broken_render(job: JobRecord) -> dict[str, Any]:
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
