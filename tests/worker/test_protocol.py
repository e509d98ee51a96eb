"""The supervisor pipe's two ends, in process over a real ``multiprocessing`` pipe: what each
end does with each message of ``genq.worker.protocol``."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from genq.notify import Notifier, Topic
from genq.settings import Settings
from genq.store import JobStore
from genq.worker.claims import ClaimLoop
from genq.worker.context import InHand, JobContext
from genq.worker.protocol import Busy, Cancel, Changed, Done, Hub, Idle, Stop, Wake
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
    """Busy and Done track the jobs a worker holds, a Changed is published on the job's
    topic, and a worker saying Idle is woken for a job queued while all were busy."""
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
    # Claims and ends are announced by the worker's store, as Changed: Busy and Done only
    # keep count.
    assert published.published == [(Topic.JOB, "j1")]
    supervisor._on_message(handle, Idle())
    assert handle.idle
    assert not handle.job_ids
    assert not worker_end.poll()
