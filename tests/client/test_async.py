"""``genq.AsyncClient``: the same API with ``async`` methods, against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import genq
from tests.client.transports import (
    AsyncAnswerFirst,
    AsyncCutEventStreams,
    AsyncRecording,
    AsyncRefuseEventStreams,
    error_answer,
    is_event_stream,
)
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def run(server: GenqServer, test: Callable[[genq.AsyncClient], Awaitable[Any]], **kw: Any) -> Any:
    """Run ``test`` with an AsyncClient of the server, in a fresh event loop."""

    key = kw.pop("key", server.key)

    async def main() -> Any:
        async with genq.AsyncClient(server.url, key, **kw) as client:
            return await test(client)

    return asyncio.run(main())


@pytest.mark.backends("sqlite", "postgres")
def test_run_with_coroutine_callbacks(server: GenqServer) -> None:
    """AsyncClient.run() follows the job to its end; callbacks may be coroutine functions."""
    events: list[genq.Event] = []
    steps: list[int] = []

    async def on_progress(progress: genq.Progress) -> None:
        await asyncio.sleep(0)
        steps.append(progress.step)

    async def test(client: genq.AsyncClient) -> genq.Job:
        return await client.run(
            "noop",
            {"steps": 3, "sleep_ms": 150, "output_text": "hi"},
            on_progress=on_progress,
            on_event=events.append,
        )

    job = run(server, test)
    assert job.status is genq.JobStatus.SUCCEEDED
    assert steps == [1, 2, 3]
    assert events[-1].status is genq.JobStatus.SUCCEEDED


def test_submit_wait_events_and_status(server: GenqServer) -> None:
    """submit() gives a handle whose wait(), events() and status() agree on the finished job."""

    async def test(client: genq.AsyncClient) -> None:
        handle = await client.submit("noop", {"steps": 2, "sleep_ms": 100})
        job = await handle.wait(timeout=60)
        assert job.status is genq.JobStatus.SUCCEEDED
        assert await handle.status() == job == await client.get(handle.id)
        events = [event async for event in handle.events()]
        assert [e.type for e in events] == ["status", "status", "progress", "progress", "status"]
        later = [event async for event in client.job(handle.id).events(after=events[1].id)]
        assert later == events[2:]

    run(server, test)


def test_a_failed_job_is_retried(server: GenqServer) -> None:
    """AsyncJobHandle.retry() and client.jobs.retry() make new jobs linked to the old."""

    async def test(client: genq.AsyncClient) -> None:
        failed = await client.submit("noop", {"fail": "boom"})
        await failed.wait(timeout=60)
        again = await failed.retry()
        assert again.job is not None
        assert again.job.retry_of == failed.id
        await again.wait(timeout=60)
        third = await client.jobs.retry(failed.id)
        assert (await failed.status()).retried_by == third.id

    run(server, test)


def test_a_running_job_carries_its_eta(server: GenqServer) -> None:
    """AsyncJobHandle.status() of a running job that reports progress has eta_seconds."""

    async def test(client: genq.AsyncClient) -> None:
        handle = await client.submit("noop", {"steps": 10, "sleep_ms": 3000})
        deadline = time.monotonic() + 60
        while (job := await handle.status()).progress.step < 2:
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.05)
        eta = (await handle.status()).eta_seconds
        assert eta is not None
        assert 0 < eta < 60, eta
        await handle.cancel()
        assert (await handle.wait(timeout=60)).eta_seconds is None

    run(server, test)


def test_failures_cancel_and_delete(server: GenqServer) -> None:
    """run() raises JobFailed; a handle cancels and deletes its job."""

    async def test(client: genq.AsyncClient) -> None:
        with pytest.raises(genq.JobFailed, match="boom"):
            await client.run("noop", {"fail": "boom"})
        handle = await client.submit("noop", {"sleep_ms": 20_000})
        await handle.cancel()
        assert (await handle.wait(timeout=60)).status is genq.JobStatus.CANCELED
        await handle.delete()
        with pytest.raises(genq.NotFound):
            await handle.status()

    run(server, test)


def test_a_cut_stream_is_resumed_without_repeats(server: GenqServer) -> None:
    """The async client resumes a cut stream with Last-Event-ID and delivers each event once."""
    transport = AsyncCutEventStreams(events=2)

    async def test(client: genq.AsyncClient) -> list[genq.Event]:
        handle = await client.submit("noop", {"steps": 5, "sleep_ms": 500})
        return [event async for event in handle.events()]

    events = run(server, test, transport=transport)
    ids = [e.id for e in events]
    assert ids == sorted(set(ids))
    assert [e.progress.step for e in events if e.progress] == [1, 2, 3, 4, 5]
    assert events[-1].status is genq.JobStatus.SUCCEEDED
    resumed = [r.headers.get("Last-Event-ID") for r in transport.requests if is_event_stream(r)]
    assert resumed == [None, *(str(ids[i]) for i in range(1, len(ids) - 1, 2))]


def test_wait_turns_to_long_polling(server: GenqServer) -> None:
    """When no event stream can be opened, the async wait long-polls to the end."""
    transport = AsyncRefuseEventStreams()

    async def test(client: genq.AsyncClient) -> genq.Job:
        return await client.run("noop", {"sleep_ms": 500}, timeout=60)

    assert run(server, test, transport=transport).status is genq.JobStatus.SUCCEEDED
    assert any("wait" in r.url.params for r in transport.sent("GET"))


def test_timeout_then_resume(server: GenqServer) -> None:
    """A timed-out async wait raises Timeout with the job id; a new handle resumes it."""

    async def test(client: genq.AsyncClient) -> None:
        with pytest.raises(genq.Timeout) as caught:
            await client.run("noop", {"sleep_ms": 2000}, timeout=0.3)
        job = await client.job(caught.value.job_id).wait(timeout=60)
        assert job.status is genq.JobStatus.SUCCEEDED

    run(server, test)


def test_retries(server: GenqServer) -> None:
    """The async client retries a refused connection, a 429 after its Retry-After and a 503,
    never a 422."""
    transport = AsyncAnswerFirst(error=httpx.ConnectError("refused by the test"))
    assert run(server, lambda client: client.models.get("noop"), transport=transport)
    assert len(transport.requests) == 2

    transport = AsyncAnswerFirst(lambda: error_answer(429, "rate_limited", {"Retry-After": "1"}))
    started = time.monotonic()
    models = run(server, lambda client: client.models.list(), transport=transport)
    assert time.monotonic() - started >= 0.9
    assert len(transport.requests) == 2
    assert "noop" in {m.name for m in models}

    transport = AsyncAnswerFirst(lambda: error_answer(503, "store_unavailable"), times=2)
    job = run(server, lambda client: client.run("noop"), transport=transport)
    assert job.status is genq.JobStatus.SUCCEEDED
    assert len(transport.sent("POST", "/v1/jobs")) == 3

    transport = AsyncAnswerFirst(lambda: error_answer(422, "validation_error"), times=9)
    with pytest.raises(genq.ValidationError):
        run(server, lambda client: client.submit("noop"), transport=transport)
    assert len(transport.requests) == 1


def test_download_and_checksum(server: GenqServer, tmp_path: Path) -> None:
    """The async download writes verified files; corrupted bytes raise ChecksumMismatch."""

    async def test(client: genq.AsyncClient) -> tuple[genq.Job, list[Path]]:
        job = await client.run("demo-image", {"prompt": "x", "width": 64, "height": 64})
        return job, await client.job(job.id).download(tmp_path)

    job, [path] = run(server, test)
    assert path.name == f"{job.id}-0.png"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == job.outputs[0].sha256

    class Corrupt(AsyncRecording):
        async def exchange(self, request: httpx.Request) -> httpx.Response:
            response = await super().exchange(request)
            if not request.url.path.startswith("/files/"):
                return response
            return httpx.Response(200, content=(await response.aread())[::-1])

    with pytest.raises(genq.ChecksumMismatch):
        run(server, lambda client: client.download(job, tmp_path / "bad"), transport=Corrupt())
    assert list((tmp_path / "bad").iterdir()) == []


def test_jobs_list_and_models(server: GenqServer) -> None:
    """jobs.list() is an async iterator over every page; models.get() describes a model."""
    key = server.new_key(f"async-lister-{uuid.uuid4().hex[:6]}")

    async def test(client: genq.AsyncClient) -> None:
        ids = [(await client.submit("noop")).id for _ in range(3)]
        listed = [job.id async for job in client.jobs.list(page_size=2)]
        assert listed == ids[::-1]
        assert [job.id async for job in client.jobs.list(limit=1)] == ids[-1:]
        assert (await client.models.get("demo-text")).modality == "text"

    run(server, test, key=key)
