"""Following a job when the event stream breaks: resuming, long-polling, timing out."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import genq
from tests.client.transports import CutEventStreams, RefuseEventStreams, is_event_stream
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def test_a_cut_stream_is_resumed_with_last_event_id_and_no_repeats(server: GenqServer) -> None:
    """A stream cut after every second event is resumed from the last event id: every event
    arrives once, in order, ending with the terminal status."""
    transport = CutEventStreams(events=2)
    events: list[genq.Event] = []
    with genq.Client(server.url, server.key, transport=transport) as client:
        job = client.run("noop", {"steps": 5, "sleep_ms": 500}, on_event=events.append)
    with genq.Client(server.url, server.key) as client:
        everything = list(client.job(job.id).events())
    assert [e.id for e in events] == [e.id for e in everything]
    assert events[-1].status is genq.JobStatus.SUCCEEDED
    assert [e.progress.step for e in events if e.progress] == [1, 2, 3, 4, 5]
    streams = [r for r in transport.requests if is_event_stream(r)]
    # Each reconnect resumes after the second event the previous stream passed on.
    assert [r.headers.get("Last-Event-ID") for r in streams] == [
        None,
        *(str(events[i].id) for i in range(1, len(events) - 1, 2)),
    ]


def test_events_iterator_resumes_a_cut_stream(server: GenqServer) -> None:
    """handle.events() over a stream cut after each event still yields each event once."""
    transport = CutEventStreams(events=1)
    with genq.Client(server.url, server.key, transport=transport) as client:
        handle = client.submit("noop", {"steps": 3, "sleep_ms": 300})
        ids = [e.id for e in handle.events()]
    with genq.Client(server.url, server.key) as client:
        assert ids == [e.id for e in client.job(handle.id).events()]
    assert len(ids) == 6  # queued, running, three progress steps, succeeded


def test_wait_turns_to_long_polling_when_the_stream_keeps_failing(server: GenqServer) -> None:
    """When no event stream can be opened, wait() long-polls GET /v1/jobs/{id}?wait=N and
    still returns the finished job, reporting the progress it sees."""
    transport = RefuseEventStreams()
    progress: list[genq.Progress] = []
    with genq.Client(server.url, server.key, transport=transport) as client:
        job = client.run(
            "noop", {"steps": 3, "sleep_ms": 1500}, on_progress=progress.append, timeout=60
        )
    assert job.status is genq.JobStatus.SUCCEEDED
    assert progress[-1] == genq.Progress(step=3, total=3, fraction=1.0)
    assert len([r for r in transport.requests if is_event_stream(r)]) == 3
    polls = [r for r in transport.sent("GET", job.id) if "wait" in r.url.params]
    assert polls, "no long-poll was made"
    assert 0 < float(polls[0].url.params["wait"]) <= 60


def test_events_iterator_gives_up_with_transport_error(server: GenqServer) -> None:
    """handle.events(), which cannot poll for events, raises TransportError once reconnecting
    has failed max_retries times in a row."""
    transport = RefuseEventStreams()
    with genq.Client(server.url, server.key, transport=transport, max_retries=2) as client:
        handle = client.submit("noop")
        with pytest.raises(genq.TransportError, match="failed 3 times"):
            list(handle.events())
    assert len([r for r in transport.requests if is_event_stream(r)]) == 3


def test_a_timed_out_wait_carries_the_job_id_and_can_be_resumed(server: GenqServer) -> None:
    """A wait that runs out raises Timeout with the job id and the job as last seen; waiting
    again on client.job(id) returns the finished job."""
    with genq.Client(server.url, server.key) as client:
        started = time.monotonic()
        with pytest.raises(genq.Timeout) as caught:
            client.run("noop", {"sleep_ms": 3000}, timeout=0.5)
        assert time.monotonic() - started < 15  # 0.5 s, with a wide margin for a busy machine
        assert caught.value.job is not None
        assert caught.value.job.id == caught.value.job_id
        job = client.job(caught.value.job_id).wait(timeout=60)
    assert job.status is genq.JobStatus.SUCCEEDED


def test_a_timed_out_long_poll_raises_timeout(server: GenqServer) -> None:
    """Long-polling honours the wait's timeout too."""
    with genq.Client(server.url, server.key, transport=RefuseEventStreams()) as client:
        handle = client.submit("noop", {"sleep_ms": 20_000})
        with pytest.raises(genq.Timeout) as caught:
            handle.wait(timeout=3)
        handle.cancel()
    assert caught.value.job_id == handle.id


def test_a_deleted_job_ends_the_wait_with_not_found(server: GenqServer) -> None:
    """A job deleted while followed ends the wait with NotFound instead of waiting forever."""
    with genq.Client(server.url, server.key) as client:
        handle = client.submit("noop", {"sleep_ms": 20_000})

        def delete_once_running(event: genq.Event) -> None:
            if event.status is genq.JobStatus.RUNNING:
                client.jobs.delete(event.job_id)

        with pytest.raises(genq.NotFound):
            handle.wait(timeout=60, on_event=delete_once_running)


def test_a_stream_that_answers_a_non_stream_falls_back_to_polling(server: GenqServer) -> None:
    """An event stream answered with something else than text/event-stream (a proxy's page)
    counts as a failed stream, and the wait long-polls."""

    class NotAStream(CutEventStreams):
        def exchange(self, request: httpx.Request) -> httpx.Response:
            if is_event_stream(request):
                return httpx.Response(200, html="<p>nothing to see</p>")
            return super().exchange(request)

    with genq.Client(server.url, server.key, transport=NotAStream()) as client:
        assert client.run("noop", timeout=60).status is genq.JobStatus.SUCCEEDED


def test_a_quiet_queued_job_still_times_out_on_time(make_server: Any) -> None:
    """A wait on a job that no worker takes raises Timeout at its deadline, though the
    server's keep-alive pings keep the quiet event stream open."""
    server = make_server(workers=0)
    with genq.Client(server.url, server.key) as client:
        started = time.monotonic()
        with pytest.raises(genq.Timeout) as caught:
            client.run("noop", {}, timeout=3)
        # The pings come every 15 s: a deadline they put off would show as 15 s or more.
        assert time.monotonic() - started < 12
        assert caught.value.job_id.startswith("job_")


def test_the_event_stream_ends_when_asked(api: httpx.Client) -> None:
    """GET /v1/jobs/{id}/events?timeout=N ends the stream after N seconds, job finished or
    not; a bad timeout is a 422."""
    job = api.post("/v1/jobs", json={"model": "noop", "input": {"sleep_ms": 30_000}}).json()
    started = time.monotonic()
    with api.stream("GET", f"/v1/jobs/{job['id']}/events", params={"timeout": 1}) as response:
        assert response.status_code == 200
        body = response.read().decode()
    assert time.monotonic() - started < 10
    assert "event: status" in body
    assert api.get(f"/v1/jobs/{job['id']}/events", params={"timeout": 0}).status_code == 422
    api.post(f"/v1/jobs/{job['id']}/cancel")
