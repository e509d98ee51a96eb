"""Following a job's events in-process: every follower of a job in one process shares one
reader of the store, and each sees every event in order, ending with the terminal one."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from genq.jobs import Account, EventRecord, EventType, JobRecord, ProgressRecord
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier, Topic
from genq.service import JobService
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import JobStore, open_store
from tests.store.test_store_contract import LEASE, new_job

#: Long enough that only publishes wake the reader: its reads are counted.
POLL = 60.0


class Reads:
    """Counts the store's reads of events (``read_events``, ``events_after``)."""

    def __init__(self, store: JobStore) -> None:
        self.count = 0
        read, read_from_loop = store.events_after, store.read_events

        def counted(*args: Any, **kwargs: Any) -> list[EventRecord]:
            self.count += 1
            return read(*args, **kwargs)

        async def counted_from_loop(*args: Any, **kwargs: Any) -> list[EventRecord]:
            self.count += 1
            return await read_from_loop(*args, **kwargs)

        store.events_after = counted  # type: ignore[method-assign]
        store.read_events = counted_from_loop  # type: ignore[method-assign]


def new_service(data_dir: Path) -> JobService:
    """The job service on its own SQLite store in ``data_dir``, hearing its own changes."""
    settings = Settings(data_dir=data_dir, poll_interval_seconds=POLL)
    store = open_store(settings.db_url)
    notifier = LocalNotifier()
    store.on_change(notifier.announce)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    return JobService(settings, store, storage, ModelRegistry(settings.models), notifier)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JobService]:
    service = new_service(tmp_path)
    yield service
    service.store.close()


def status_of(event: EventRecord) -> str:
    return f"{event.type.value}:{event.data.get('status', '')}"


async def follow(service: JobService, account_id: str, job_id: str, after: int = 0) -> list[str]:
    return [status_of(e) async for e in await service.events(account_id, job_id, after)]


async def settle() -> None:
    # SQLite calls are made inline: a few turns of the loop let every follower catch up.
    for _ in range(20):
        await asyncio.sleep(0)


async def a_queued_job(
    service: JobService, credits: Decimal | None = Decimal(10)
) -> tuple[Account, JobRecord]:
    """Start ``service``; an account with ``credits`` and a job of it, queued."""
    await service.start()
    now = time.time()
    account = service.store.ensure_account("acme", credits, now)
    return account, service.store.submit(new_job(account, created_at=now)).job


async def run_job(service: JobService, followers: int) -> tuple[list[list[str]], int, list[str]]:
    """Follow one job with ``followers`` followers from the start while a worker claims it,
    reports progress twice and finishes it: what each follower saw, how many event reads the
    store served after they joined, and the job's events as stored."""
    store = service.store
    account, job = await a_queued_job(service)
    reads = Reads(store)
    tasks = [asyncio.create_task(follow(service, account.id, job.id)) for _ in range(followers)]
    await settle()
    claim = store.claim("w1", ["m"], time.time(), LEASE)[0]
    await settle()
    for step in (1, 2):
        store.set_progress(claim, ProgressRecord(step=step, total=2), time.time())
        await settle()
    store.finish(claim, time.time())
    seen = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    stored = [status_of(e) for e in store.events_after(job.id, 0)]
    return seen, reads.count, stored


def test_each_event_is_read_once_for_all_followers(service: JobService) -> None:
    """Eight followers of one job cost the store the same reads as one, and each sees every
    event of the job in order, the terminal one last."""
    seen, reads, stored = asyncio.run(run_job(service, 8))
    assert stored[0] == "status:queued"
    assert stored[-1] == "status:succeeded"
    assert "progress:" in stored
    assert seen == [stored] * 8
    one = new_service(service.settings.data_dir / "alone")
    try:
        seen_alone, reads_alone, _ = asyncio.run(run_job(one, 1))
    finally:
        one.store.close()
    assert seen_alone == [stored]
    assert reads == reads_alone


def test_followers_that_join_late_or_resume_see_the_rest(service: JobService) -> None:
    """Followers joining a running job's feed, from the start or resuming after an event,
    before or after the feed's own start, each get the events they have not seen."""

    async def scenario() -> tuple[list[str], list[list[str]]]:
        store = service.store
        account, job = await a_queued_job(service)
        claim = store.claim("w1", ["m"], time.time(), LEASE)[0]
        ids = [e.id for e in store.events_after(job.id, 0)]
        first = asyncio.create_task(follow(service, account.id, job.id, ids[0]))
        await settle()
        store.set_progress(claim, ProgressRecord(step=1, total=2), time.time())
        await settle()
        later = [
            asyncio.create_task(follow(service, account.id, job.id, after))
            for after in (0, ids[-1], store.events_after(job.id, 0)[-1].id)
        ]
        await settle()
        store.finish(claim, time.time())
        seen = await asyncio.wait_for(asyncio.gather(first, *later), 5)
        return [status_of(e) for e in store.events_after(job.id, 0)], seen

    stored, (first, whole, after_running, after_progress) = asyncio.run(scenario())
    assert first == stored[1:]
    assert whole == stored
    assert after_running == stored[2:]
    assert after_progress == stored[3:]


def test_the_reader_stops_when_its_last_follower_leaves(service: JobService) -> None:
    """Followers cancelled mid-stream leave; with the last one gone, the job's reader stops
    and the process keeps nothing for the job."""

    async def scenario() -> None:
        account, job = await a_queued_job(service)
        tasks = [asyncio.create_task(follow(service, account.id, job.id)) for _ in range(3)]
        await settle()
        feed = service._feeds[job.id]
        reader = feed._reader
        for task in tasks[:2]:
            task.cancel()
        await settle()
        assert not reader.done()
        assert service._feeds.get(job.id) is feed
        tasks[2].cancel()
        await settle()
        assert reader.done()
        assert job.id not in service._feeds
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())


def test_a_store_error_reaches_each_follower_with_its_own_traceback(service: JobService) -> None:
    """A read that fails ends every follower's stream with the error, each raised with the
    reader's traceback and its own: one follower's frames do not pile up on the next's."""

    class StoreDown(Exception):
        pass

    async def scenario() -> list[int]:
        store = service.store
        account, job = await a_queued_job(service)

        async def fail(after: int) -> int:
            try:
                await follow(service, account.id, job.id, after)
            except StoreDown as error:
                return len(traceback.extract_tb(error.__traceback__))
            raise AssertionError("the stream ended without the store's error")

        tasks = [asyncio.create_task(fail(0)) for _ in range(3)]
        await settle()

        async def down(*args: Any, **kwargs: Any) -> list[EventRecord]:
            raise StoreDown("the database is gone")

        store.read_events = down  # type: ignore[method-assign]
        service.notifier.publish(Topic.JOB, job.id)
        return await asyncio.wait_for(asyncio.gather(*tasks), 5)

    depths = asyncio.run(scenario())
    assert len(set(depths)) == 1, depths


def test_a_follower_past_every_event_holds_back_no_other(service: JobService) -> None:
    """A follower resuming after an id no event has reached yet makes the job's feed start
    there; a follower from the start, joining it, still gets every later event and the
    terminal one."""

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        store = service.store
        account, job = await a_queued_job(service)
        ahead = asyncio.create_task(follow(service, account.id, job.id, 10**9))
        await settle()
        whole = asyncio.create_task(follow(service, account.id, job.id, 0))
        await settle()
        claim = store.claim("w1", ["m"], time.time(), LEASE)[0]
        await settle()
        store.set_progress(claim, ProgressRecord(step=1, total=2), time.time())
        await settle()
        store.finish(claim, time.time())
        seen_ahead, seen_whole = await asyncio.wait_for(asyncio.gather(ahead, whole), 5)
        return [status_of(e) for e in store.events_after(job.id, 0)], seen_ahead, seen_whole

    stored, ahead, whole = asyncio.run(scenario())
    assert ahead == []
    assert whole == stored


def test_a_finished_jobs_streamed_text_is_kept_a_running_ones_is_not(service: JobService) -> None:
    """The text a job streamed is read again while the job runs (more may come), and read
    once when it has ended."""

    async def scenario() -> tuple[list[str], list[int]]:
        store = service.store
        now = time.time()
        account = store.ensure_account("acme", None, now)
        job = store.submit(new_job(account, created_at=now)).job
        claim = store.claim("w1", ["m"], time.time(), LEASE)[0]
        reads = Reads(store)
        texts, counts = [], []
        for delta in ("Hello", ", world"):
            store.add_event(claim, EventType.TEXT, {"delta": delta}, time.time())
            running = store.get_job(account.id, job.id, time.time())
            assert running is not None
            texts.append(await service.text_so_far(running))
            counts.append(reads.count)
        store.finish(claim, time.time())
        ended = store.get_job(account.id, job.id, time.time())
        assert ended is not None
        assert ended.terminal
        for _ in range(2):
            texts.append(await service.text_so_far(ended))
            counts.append(reads.count)
        return texts, counts

    texts, counts = asyncio.run(scenario())
    assert texts == ["Hello", "Hello, world", "Hello, world", "Hello, world"]
    assert counts[3] == counts[2]  # the ended job's text came from memory the second time
    assert counts[1] > counts[0]


def test_followers_that_leave_leave_nothing_waiting(service: JobService) -> None:
    """Followers that give up while the job is quiet (a stream's timeout) take their place
    in the feed's waiting list with them: a long-followed quiet job does not gather them."""

    async def scenario() -> int:
        account, job = await a_queued_job(service)
        stays = asyncio.create_task(follow(service, account.id, job.id))
        for _ in range(50):
            leaves = asyncio.create_task(follow(service, account.id, job.id))
            await settle()
            leaves.cancel()
            await asyncio.gather(leaves, return_exceptions=True)
        waiting = len(service._feeds[job.id]._waiting)
        stays.cancel()
        await asyncio.gather(stays, return_exceptions=True)
        return waiting

    assert asyncio.run(scenario()) == 1


def test_logs_so_far_are_the_latest_log_lines_in_order(service: JobService) -> None:
    """A job's log lines are its ``log`` events alone, oldest first, across pages of the
    store's reads; past the limit, the latest ones."""

    async def scenario() -> tuple[list[str], list[str]]:
        store = service.store
        now = time.time()
        account = store.ensure_account("acme", None, now)
        job = store.submit(new_job(account, created_at=now)).job
        claim = store.claim("w1", ["m"], time.time(), LEASE)[0]
        for index in range(600):
            store.add_event(claim, EventType.LOG, {"message": f"line {index}"}, time.time())
            store.add_event(claim, EventType.TEXT, {"delta": "x"}, time.time())
        every = await service.logs_so_far(job)
        latest = await service.logs_so_far(job, limit=2)
        return [e.data["message"] for e in every], [e.data["message"] for e in latest]

    every, latest = asyncio.run(scenario())
    assert every == [f"line {index}" for index in range(600)]
    assert latest == ["line 598", "line 599"]
