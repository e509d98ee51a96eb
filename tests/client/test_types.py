"""Reading the server's JSON into typed values, and refusing what cannot be read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import genq
from tests.client.transports import Rewrite, is_event_stream
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")

JOB: dict[str, Any] = {
    "id": "job_1",
    "object": "job",
    "model": "demo-image",
    "status": "succeeded",
    "input": {"prompt": "p"},
    "priority": 0,
    "progress": {"step": 8, "total": 8, "fraction": 1.0, "message": None},
    "outputs": [
        {
            "url": "http://h/files/job_1/1/output-0.png?expires=1&signature=s",
            "content_type": "image/png",
            "size": 3,
            "sha256": "ab",
            "width": 768,
            "height": 512,
        }
    ],
    "error": None,
    "cost": {"estimate": 0.002, "actual": 0.002},
    "created_at": "2026-11-21T12:51:30.695Z",
    "started_at": None,
    "finished_at": None,
    "metadata": {"k": 1},
    "origin": {"api": "segmind", "model": "seedream-4.5"},
    "expires_at": "2026-11-22T12:51:30.695Z",
}


def test_a_job_reads_every_documented_field() -> None:
    """Job.from_api turns the native job object into typed fields, keeping the raw dict."""
    job = genq.Job.from_api(JOB)
    assert job.status is genq.JobStatus.SUCCEEDED
    assert job.created_at == datetime(2026, 11, 21, 12, 51, 30, 695000, tzinfo=UTC)
    assert job.started_at is None
    assert job.outputs[0] == genq.Output(
        url=JOB["outputs"][0]["url"],
        content_type="image/png",
        size=3,
        sha256="ab",
        width=768,
        height=512,
    )
    assert job.origin == genq.Origin("segmind", "seedream-4.5")
    assert (job.cost_estimate, job.cost_actual) == (0.002, 0.002)
    assert job.raw is JOB


def test_a_job_reads_its_eta_when_the_server_gives_one() -> None:
    """eta_seconds is a float where the server gives a number, None where it gives null or
    leaves the key out (a job ended, or one not read by its id)."""
    running = {**JOB, "status": "running", "finished_at": None}
    assert genq.Job.from_api({**running, "eta_seconds": 12}).eta_seconds == 12.0
    assert genq.Job.from_api({**running, "eta_seconds": None}).eta_seconds is None
    assert genq.Job.from_api(JOB).eta_seconds is None
    with pytest.raises(genq.ProtocolError):
        genq.Job.from_api({**running, "eta_seconds": "soon"})


def test_only_the_last_four_statuses_are_terminal() -> None:
    """JobStatus.terminal is true for succeeded, failed, canceled and expired."""
    assert [s.value for s in genq.JobStatus if s.terminal] == [
        "succeeded",
        "failed",
        "canceled",
        "expired",
    ]


@pytest.mark.parametrize(
    "data",
    [{**JOB, "status": "paused"}, {"status": "queued"}, {**JOB, "outputs": [{}]}, "job_1"],
    ids=["unknown-status", "no-id", "bad-output", "not-an-object"],
)
def test_an_unreadable_job_is_a_protocol_error(data: Any) -> None:
    """An unknown status word or a malformed job raises ProtocolError."""
    with pytest.raises(genq.ProtocolError):
        genq.Job.from_api(data)


def test_events_of_unknown_types_pass_but_unknown_statuses_do_not() -> None:
    """An event type this client does not know is passed on; a status event with an unknown
    status word raises ProtocolError."""
    event = genq.Event.from_sse("7", "heartbeat", {"job_id": "job_1"}, "job_1")
    assert (event.id, event.type, event.status, event.progress) == (7, "heartbeat", None, None)
    with pytest.raises(genq.ProtocolError, match="paused"):
        genq.Event.from_sse("8", "status", {"status": "paused"}, "job_1")


def paused(body: bytes) -> bytes:
    return body.replace(b'"status":"succeeded"', b'"status":"paused"')


def test_an_unknown_status_from_the_server_raises_protocol_error(server: GenqServer) -> None:
    """A status word the client does not know, in a job or on the event stream, raises
    ProtocolError instead of waiting for a terminal status forever."""
    streams = Rewrite(paused, matches=is_event_stream)
    with (
        genq.Client(server.url, server.key, transport=streams) as client,
        pytest.raises(genq.ProtocolError, match="paused"),
    ):
        client.run("noop", timeout=60)
    jobs = Rewrite(paused, matches=lambda r: r.method == "GET" and "/v1/jobs/" in r.url.path)
    with genq.Client(server.url, server.key, transport=jobs) as client:
        job_id = client.submit("noop").id
        with genq.Client(server.url, server.key) as plain:
            plain.job(job_id).wait(timeout=60)
        with pytest.raises(genq.ProtocolError, match="paused"):
            client.get(job_id)
        with pytest.raises(genq.ProtocolError, match="paused"):
            client.job(job_id).wait(timeout=60)
