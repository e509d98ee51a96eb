"""The supervisor pipe's two ends, in process over a real ``multiprocessing`` pipe: what each
end does with each message of ``genq.worker.protocol``."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from genq.notify import LocalNotifier, Notifier, Topic
from genq.service import JobService
from genq.settings import Settings
from genq.store import JobStore, open_store
from genq.worker.claims import ClaimLoop
from genq.worker.context import InHand, JobContext
from genq.worker.protocol import (
    Busy,
    Cancel,
    Changed,
    Done,
    Hub,
    Idle,
    Inbox,
    Stop,
    ToSupervisor,
    Wake,
)
from genq.worker.runner import Worker
from genq.worker.supervisor import Supervisor, WorkerHandle


class Published:
    """Records what the supervisor publishes."""

    def __init__(self) -> None:
        self.published: list[tuple[Topic, str]] = []

    def publish(self, topic: Topic, payload: str = "") -> None:
        self.published.append((topic, payload))


def held_job(job_id: str) -> JobContext:
    # The pipe's end needs only what a job in hand exposes to a cancel.
    return cast(JobContext, SimpleNamespace(job_id=job_id, stop=threading.Event(), ended=False))


def claim_loop(tmp_path: Path, hub: Hub, in_hand: InHand) -> ClaimLoop:
    settings = Settings(data_dir=tmp_path)
    return ClaimLoop(settings, cast(JobStore, None), "w-test", [], hub, in_hand)


def test_a_worker_sends_typed_messages_and_hears_cancel_and_stop(tmp_path: Path) -> None:
    """The worker's messages arrive as the values it sent; a Cancel stops that job in hand
    and no other, a Wake changes nothing, and a Stop ends the claiming."""
    worker_end, supervisor_end = multiprocessing.Pipe()
    hub = Hub(worker_end)
    for message in (Idle(), Busy("j1"), Changed("j1"), Done("j1")):
        hub.send(message)
        assert supervisor_end.recv() == message
    in_hand = InHand()
    wanted, other = held_job("j1"), held_job("j2")
    in_hand.add([wanted, other])
    loop = claim_loop(tmp_path, hub, in_hand)
    supervisor_end.send(Cancel("j1"))
    supervisor_end.send(Wake())
    loop.receive(5.0)
    assert wanted.stop.is_set()
    assert not other.stop.is_set()
    assert not loop.stopping.is_set()
    supervisor_end.send(Stop())
    loop.receive(5.0)
    assert loop.stopping.is_set()


def test_a_worker_whose_supervisor_closed_the_pipe_claims_no_more(tmp_path: Path) -> None:
    """A pipe closed at the supervisor's end stops the claim loop (and a claim finds
    nothing); a worker without a supervisor sends into nothing."""
    worker_end, supervisor_end = multiprocessing.Pipe()
    supervisor_end.close()
    loop = claim_loop(tmp_path, Hub(worker_end), InHand())
    loop.receive(5.0)
    assert loop.stopping.is_set()
    assert loop.claim(["echo"]) == []
    Hub(None).send(Idle())


def test_the_supervisor_tracks_and_relays_what_a_worker_says(tmp_path: Path) -> None:
    """Busy and Done track the jobs a worker holds, each of them and a Changed is published
    on the job's topic, and a worker saying Idle is woken for a job queued while all were busy."""
    published = Published()
    supervisor = Supervisor(
        Settings(data_dir=tmp_path), cast(JobStore, None), cast(Notifier, published), 1
    )
    supervisor_end, worker_end = multiprocessing.Pipe()
    handle = WorkerHandle("w-test", cast(BaseProcess, None), supervisor_end)
    supervisor.workers.append(handle)
    supervisor._on_queued("")
    assert not worker_end.poll()
    supervisor._on_message(handle, Idle())
    assert worker_end.recv() == Wake()
    assert handle.ready
    assert not handle.idle
    for message in (Busy("j1"), Busy("j2"), Changed("j1"), Done("j1")):
        supervisor._on_message(handle, message)
    assert handle.job_ids == {"j2"}
    # Busy tells of a claim and Done of an end: each is published like a Changed.
    assert published.published == [(Topic.JOB, j) for j in ("j1", "j2", "j1", "j1")]
    supervisor._on_message(handle, Idle())
    assert handle.idle
    assert not handle.job_ids
    assert not worker_end.poll()


def test_a_worker_tells_a_claim_and_an_end_once_each(tmp_path: Path) -> None:
    """With a real SQLite store: a job a worker runs is told by one Busy once its claim is
    committed and one Done once its end is, with no Changed for either; the progress it
    reports in between is told by a Changed."""
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings.db_url)
    worker_end, supervisor_end = multiprocessing.Pipe()
    worker = Worker(settings, "w-test", conn=worker_end, store=store, models=["noop"])
    store.on_change(worker.forward)
    account = store.ensure_account("tester", None, time.time())

    async def submit() -> str:
        service = JobService(settings, store, worker.storage, worker.registry, LocalNotifier())
        return (await service.submit(account.id, "noop", {"steps": 1}))[0].id

    job_id = asyncio.run(submit())
    assert worker.run(burst=True) == 1
    told = []
    while supervisor_end.poll():
        told.append(supervisor_end.recv())
    assert [(type(m), m.job_id) for m in told] == [
        (Busy, job_id),
        (Changed, job_id),
        (Done, job_id),
    ]
    # The end carries what the metrics count of it (see genq.metrics).
    done = told[-1]
    assert isinstance(done, Done)
    assert ("finished", ("noop", "succeeded"), 1) in done.figures
    store.close()


def test_the_supervisor_reads_a_workers_messages_whole_from_any_pieces() -> None:
    """What a worker sends arrives as the values it sent, however the reads cut the bytes:
    several messages in one read, one message over several, and a message too long for a
    single write."""
    supervisor_end, worker_end = multiprocessing.Pipe()
    sent: list[ToSupervisor] = [Idle(), Busy("j1"), Changed("j" * 100_000), Done("j1")]
    for message in sent:
        worker_end.send(message)
    worker_end.close()
    inbox, received = Inbox(), []
    for size in itertools.cycle((1, 3, 7, 50_000)):
        data = os.read(supervisor_end.fileno(), size)
        if not data:
            break
        received += inbox.feed(data)
    assert received == sent


def test_a_message_that_cannot_be_read_is_dropped_alone(caplog: pytest.LogCaptureFixture) -> None:
    """A frame whose bytes do not unpickle is logged and skipped: the messages around it
    arrive, and it is not read again with the next bytes."""
    supervisor_end, worker_end = multiprocessing.Pipe()
    worker_end.send(Busy("j1"))
    worker_end.send_bytes(b"not a pickle")
    worker_end.send(Done("j1"))
    inbox = Inbox()
    received = inbox.feed(os.read(supervisor_end.fileno(), 1 << 16))
    assert received == [Busy("j1"), Done("j1")]
    assert "could not be read" in caplog.text
    worker_end.send(Idle())
    assert inbox.feed(os.read(supervisor_end.fileno(), 1 << 16)) == [Idle()]
