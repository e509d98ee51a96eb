"""A worker's ``ctx.fetch_audio`` holds a reference sound to the operator's settings: its byte
limit and whether private addresses may be fetched; each refusal is counted for the figures.

The job context is a worker's own, with real settings, the real pipe to the supervisor and a
real HTTP server on 127.0.0.1; only the worker around it is reduced to what it reads.
"""

from __future__ import annotations

import io
import multiprocessing
import wave
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from genq import metrics
from genq.jobs import Claim
from genq.media.fetch import RefusedReference
from genq.models.base import InputError
from genq.settings import Settings
from genq.worker.context import JobContext
from genq.worker.protocol import Hub, Idle
from genq.worker.runner import Worker
from tests.media.images import data_uri
from tests.media.network import LocalServer, body, serve

pytest.importorskip("av")

RATE = 16000


def wav(seconds: float) -> bytes:
    """A mono 16 kHz WAV of a 440 Hz tone."""
    t = np.arange(round(seconds * RATE)) / RATE
    pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


SOUND = wav(0.25)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    yield from serve()


def context(tmp_path: Path, **settings: Any) -> tuple[JobContext, Connection]:
    """A job's context in a worker with these settings, and the supervisor's end of its pipe."""
    worker_end, supervisor_end = multiprocessing.Pipe()
    worker = SimpleNamespace(settings=Settings(data_dir=tmp_path, **settings), hub=Hub(worker_end))
    job = SimpleNamespace(id="j1", timeout_seconds=None, started_at=None)
    return JobContext(cast(Worker, worker), cast(Claim, SimpleNamespace(job=job))), supervisor_end


def told(ctx: JobContext, supervisor: Connection) -> tuple[metrics.Observation, ...]:
    """The figures the worker tells the supervisor with its next Idle."""
    ctx.worker.hub.send(Idle())
    message = supervisor.recv()
    assert isinstance(message, Idle)
    return message.figures


def test_fetch_audio_applies_the_reference_byte_limit(tmp_path: Path, server: LocalServer) -> None:
    """Under a reference_max_bytes one byte short of the sound, the sound is refused as too
    large, inline or from a server, and each refusal is counted; one byte more lets it in."""
    server.routes["/voice.wav"] = body(SOUND, "audio/wav")
    refs = [data_uri(SOUND, "audio/wav"), server.url("/voice.wav")]
    tight, supervisor = context(
        tmp_path, reference_max_bytes=len(SOUND) - 1, reference_allow_private=True
    )
    for ref in refs:
        with pytest.raises(InputError) as refused:
            tight.fetch_audio(ref, sample_rate=RATE, max_seconds=600.0)
        assert isinstance(refused.value, RefusedReference)
        assert refused.value.kind == "too_large"
    assert told(tight, supervisor) == (metrics.reference_refused("too_large"),) * 2
    roomy, _ = context(tmp_path, reference_max_bytes=len(SOUND), reference_allow_private=True)
    for ref in refs:
        samples = roomy.fetch_audio(ref, sample_rate=RATE, max_seconds=600.0)
        assert (samples.dtype, samples.shape) == (np.float32, (RATE // 4,))


def test_fetch_audio_refuses_private_addresses_unless_allowed(
    tmp_path: Path, server: LocalServer
) -> None:
    """With reference_allow_private off (the default), a sound on 127.0.0.1 is refused before
    any request is made, and counted."""
    server.routes["/voice.wav"] = body(SOUND, "audio/wav")
    ctx, supervisor = context(tmp_path)
    with pytest.raises(RefusedReference) as refused:
        ctx.fetch_audio(server.url("/voice.wav"), sample_rate=RATE)
    assert refused.value.kind == "private_address"
    assert server.requests == []
    assert told(ctx, supervisor) == (metrics.reference_refused("private_address"),)


def test_fetch_audio_counts_a_sound_too_long_for_the_model(tmp_path: Path) -> None:
    """A sound longer than the model's max_seconds is refused as too_long, and counted."""
    ctx, supervisor = context(tmp_path)
    with pytest.raises(RefusedReference) as refused:
        ctx.fetch_audio(data_uri(wav(2.5), "audio/wav"), sample_rate=RATE, max_seconds=1.0)
    assert refused.value.kind == "too_long"
    assert told(ctx, supervisor) == (metrics.reference_refused("too_long"),)
