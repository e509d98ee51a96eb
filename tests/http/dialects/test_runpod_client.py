"""RunPod's official Python client, unmodified, against one real ``genq serve``: only its
documented ``runpod.endpoint_url_base`` (``.../runpod/v2``) and API key point it at genq. The
example RunPod handler file is served as a model of its own (``runtime = "runpod"``)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import runpod
from PIL import Image

from tests.conftest import Backend, GenqServer, wait_until
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.backends("sqlite")

HANDLER = Path(__file__).parents[3] / "examples" / "runpod" / "handler.py"
#: The example handler as endpoint ``words``, and ``sleepy``: an endpoint of its own for the
#: queue tests (its health counts only their jobs).
MODELS = f"""
[models.words]
runtime = "runpod"
handler = "{HANDLER}"

[aliases.sleepy]
model = "noop"
"""


@pytest.fixture(scope="module")
def genq(tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend) -> Iterator[GenqServer]:
    """One server for the module, which may call webhooks on this machine over http."""
    directory = tmp_path_factory.mktemp(f"runpod-{shared_backend.name}")
    server = GenqServer(
        directory / "data",
        toml=MODELS,
        backend=shared_backend,
        webhook_allow_http=True,
        webhook_allow_private=True,
    ).start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def pointed_at_genq(genq: GenqServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's documented settings: its endpoint base URL and its API key."""
    monkeypatch.setattr(runpod, "endpoint_url_base", f"{genq.url}/runpod/v2")
    monkeypatch.setattr(runpod, "api_key", genq.key)


def test_run_status_and_output(genq: GenqServer) -> None:
    """Endpoint.run queues a job; Job.status() follows it and Job.output() waits for its
    output: the image's URL, which downloads a PNG."""
    job = runpod.Endpoint("demo-image").run({"prompt": "a kite", "width": 96, "height": 64})
    assert job.status() in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    url = job.output(timeout=60)
    assert isinstance(url, str)
    assert url.startswith(genq.url)
    assert job.status() == "COMPLETED"
    picture = Image.open(io.BytesIO(httpx.get(url).content))
    assert picture.format == "PNG"
    assert picture.size == (96, 64)


def test_run_sync_answers_the_output_or_none_for_a_failure() -> None:
    """run_sync answers a text model's text; a failed job's output is None, as the client
    gives it (it raises nothing)."""
    text = runpod.Endpoint("demo-text").run_sync({"prompt": "the sea", "max_tokens": 6})
    assert isinstance(text, str)
    assert len(text.split()) == 6
    assert runpod.Endpoint("noop").run_sync({"fail": "out of paint"}, timeout=60) is None


def test_stream_yields_a_text_models_pieces() -> None:
    """Job.stream() yields the pieces of text as the model writes them, each once, and ends
    when the job has; joined they are the job's output."""
    endpoint = runpod.Endpoint("demo-text")
    job = endpoint.run({"prompt": "the sea", "max_tokens": 12, "token_delay_ms": 150})
    pieces = list(job.stream())
    assert len(pieces) > 1
    assert all(isinstance(piece, str) for piece in pieces)
    assert "".join(pieces) == job.output(timeout=30)


def test_stream_yields_what_a_generator_handler_yields() -> None:
    """A RunPod generator handler file served by genq: stream() yields each item it
    yields, in order, and its output is their aggregate (return_aggregate_stream)."""
    job = runpod.Endpoint("words").run({"prompt": "one two three four", "delay_ms": 300})
    items = list(job.stream())
    expected = [{"index": i, "word": w} for i, w in enumerate(["one", "two", "three", "four"])]
    assert items == expected
    assert job.output(timeout=30) == expected


def test_cancel_stops_a_running_job() -> None:
    """Job.cancel() answers CANCELLED for a running job, which then ends CANCELLED."""
    job = runpod.Endpoint("noop").run({"sleep_ms": 30_000, "steps": 300})
    wait_until(lambda: job.status() == "IN_PROGRESS", timeout=30)
    answer = job.cancel()
    assert answer == {"id": job.job_id, "status": "CANCELLED"}
    wait_until(lambda: job.status() == "CANCELLED", timeout=30)


def test_health_and_purge_queue(genq: GenqServer) -> None:
    """health() counts the endpoint's jobs and the workers serving it; purge_queue()
    cancels the queued ones and leaves the running ones; a wrong key is the client's
    RuntimeError."""
    endpoint = runpod.Endpoint("sleepy")
    workers = genq.settings["workers"]
    jobs = [endpoint.run({"sleep_ms": 20_000, "steps": 200}) for _ in range(workers + 2)]

    def busy() -> bool:
        counts = endpoint.health()["jobs"]
        return bool(counts["inProgress"] == workers and counts["inQueue"] == 2)

    wait_until(busy, timeout=30)
    health = endpoint.health()
    assert health["workers"]["running"] >= 1
    assert set(health["workers"]) == {"idle", "running"}
    assert endpoint.purge_queue() == {"removed": 2, "status": "completed"}
    assert endpoint.health()["jobs"]["inQueue"] == 0
    statuses = [job.status() for job in jobs]
    assert statuses.count("CANCELLED") == 2
    assert statuses.count("IN_PROGRESS") == workers
    for job in jobs:
        job.cancel()
    wait_until(lambda: endpoint.health()["jobs"]["inProgress"] == 0, timeout=30)
    with pytest.raises(RuntimeError, match="401"):
        runpod.Endpoint("sleepy", api_key="not-a-key").health()


def test_a_webhook_receives_the_status() -> None:
    """A webhook given with run() is called once the job ends, with its status as /status
    answers it: id, COMPLETED and the output."""
    receiver = Receiver()
    try:
        job = runpod.Endpoint("noop").run(
            {"input": {"output_text": "hello"}, "webhook": receiver.url}
        )
        [call] = receiver.wait(1)
        body: dict[str, Any] = call.json
        assert body["id"] == job.job_id
        assert body["status"] == "COMPLETED"
        assert body["output"] == "hello"
        assert {"delayTime", "executionTime"} <= set(body)
    finally:
        receiver.close()


def test_the_asyncio_endpoint() -> None:
    """The client's AsyncioEndpoint (aiohttp, which reads JSON answers only) runs a job,
    follows it, streams its text and reads the endpoint's health."""

    async def session() -> tuple[str, str, list[str], dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            endpoint = runpod.AsyncioEndpoint("demo-text", http)
            job = await endpoint.run({"prompt": "a calm lake", "max_tokens": 5})
            pieces = [piece async for piece in job.stream()]
            status = await job.status()
            output = await job.output(timeout=30)
            return status, output, pieces, await endpoint.health()

    status, output, pieces, health = asyncio.run(session())
    assert status == "COMPLETED"
    assert "".join(pieces) == output
    assert len(output.split()) == 5
    assert health["jobs"]["completed"] >= 1
