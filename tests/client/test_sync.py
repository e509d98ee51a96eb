"""``genq.Client`` against a real ``genq serve``: run, submit, wait, handles, lists, models."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import genq
from tests.conftest import GenqServer, wait_until

pytestmark = pytest.mark.backends("sqlite")


def client_for(server: GenqServer, key: str | None = None, **kwargs: Any) -> genq.Client:
    return genq.Client(server.url, key or server.key, **kwargs)


@pytest.mark.backends("sqlite", "postgres")
def test_run_returns_the_succeeded_job_with_its_outputs(server: GenqServer) -> None:
    """run() submits, follows the job to its end and returns it, outputs and cost included."""
    with client_for(server) as client:
        job = client.run("noop", {"steps": 2, "output_text": "hello"}, metadata={"n": 1})
    assert job.status is genq.JobStatus.SUCCEEDED
    assert job.status.terminal
    assert job.progress == genq.Progress(step=2, total=2, fraction=1.0)
    [output] = job.outputs
    assert output.content_type.startswith("text/plain")
    assert output.size == 5
    assert job.cost_actual == job.cost_estimate == 0.0001
    assert job.metadata == {"n": 1}
    assert job.input["steps"] == 2
    assert job.created_at is not None
    assert job.finished_at is not None
    assert job.created_at <= job.finished_at
    assert job.raw["object"] == "job"


def test_submit_returns_at_once_and_wait_returns_the_terminal_job(server: GenqServer) -> None:
    """submit() answers with a handle on the queued job; wait() returns it once finished."""
    with client_for(server) as client:
        handle = client.submit("noop", {"sleep_ms": 300}, priority=5)
        assert handle.id.startswith("job_")
        assert handle.job is not None
        assert handle.job.status in (genq.JobStatus.QUEUED, genq.JobStatus.RUNNING)
        assert handle.job.priority == 5
        job = handle.wait(timeout=60)
        assert job.status is genq.JobStatus.SUCCEEDED
        assert handle.status() == job
        assert client.get(handle.id) == job


def test_wait_returns_a_failed_job_and_run_raises_job_failed(server: GenqServer) -> None:
    """wait() returns a failed job as it is; run() raises JobFailed carrying it and its error."""
    with client_for(server) as client:
        failed = client.submit("noop", {"fail": "boom"}).wait(timeout=60)
        assert failed.status is genq.JobStatus.FAILED
        assert isinstance(failed.error, genq.JobErrorInfo)
        assert failed.error.code == "model_error"
        with pytest.raises(genq.JobFailed) as caught:
            client.run("noop", {"fail": "boom"})
    assert caught.value.code == "model_error"
    assert "boom" in caught.value.message
    assert caught.value.job.status is genq.JobStatus.FAILED
    assert isinstance(caught.value, genq.JobError)


def test_run_raises_job_canceled_when_the_job_is_canceled(server: GenqServer) -> None:
    """A job canceled while run() follows it makes run() raise JobCanceled."""
    with client_for(server) as client:

        def cancel_once_running(event: genq.Event) -> None:
            if event.status is genq.JobStatus.RUNNING:
                client.jobs.cancel(event.job_id)

        with pytest.raises(genq.JobCanceled) as caught:
            client.run("noop", {"sleep_ms": 20_000}, on_event=cancel_once_running, timeout=60)
    assert caught.value.job.status is genq.JobStatus.CANCELED


def test_callbacks_see_every_event_and_each_progress_step_in_order(server: GenqServer) -> None:
    """on_event gets each event once, from queued to the terminal status; on_progress each
    progress step in order."""
    events: list[genq.Event] = []
    progress: list[genq.Progress] = []
    with client_for(server) as client:
        job = client.run(
            "noop",
            {"steps": 4, "sleep_ms": 200, "output_text": "x"},
            on_event=events.append,
            on_progress=progress.append,
        )
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert {p.total for p in progress} == {4}
    assert progress[-1].fraction == 1.0
    ids = [e.id for e in events]
    assert ids == sorted(set(ids))
    assert [e.status for e in events if e.type == "status"] == [
        genq.JobStatus.QUEUED,
        genq.JobStatus.RUNNING,
        genq.JobStatus.SUCCEEDED,
    ]
    assert [e.type for e in events].count("output") == 1
    assert all(e.job_id == job.id for e in events)


def test_an_error_in_a_callback_stops_the_wait(server: GenqServer) -> None:
    """An exception raised by a callback ends the wait and reaches the caller."""

    def stop(event: genq.Event) -> None:
        raise KeyboardInterrupt

    with client_for(server) as client:
        handle = client.submit("noop", {"sleep_ms": 20_000})
        with pytest.raises(KeyboardInterrupt):
            handle.wait(timeout=60, on_event=stop)
        assert handle.cancel().status in (genq.JobStatus.CANCELED, genq.JobStatus.RUNNING)


def test_events_iterator_yields_typed_events_until_the_terminal_status(server: GenqServer) -> None:
    """handle.events() yields typed events, resumable by id, and stops after the terminal one."""
    with client_for(server) as client:
        handle = client.submit("demo-text", {"prompt": "a picture", "max_tokens": 8})
        events = list(handle.events())
        assert events[-1].status is genq.JobStatus.SUCCEEDED
        text = "".join(e.data["delta"] for e in events if e.type == "text")
        assert text.strip()
        later = list(handle.events(after=events[2].id))
    assert [e.id for e in later] == [e.id for e in events[3:]]
    assert all(e.created_at is not None for e in events)


def test_a_handle_by_id_follows_a_job_submitted_elsewhere(server: GenqServer) -> None:
    """client.job(id) resumes following a job that another client submitted."""
    with client_for(server) as first:
        job_id = first.submit("noop", {"sleep_ms": 200}).id
    with client_for(server) as second:
        assert second.job(job_id).wait(timeout=60).status is genq.JobStatus.SUCCEEDED


def test_cancel_and_delete_through_the_handle(server: GenqServer) -> None:
    """cancel() answers the canceled job; delete() removes it, after which reads are NotFound."""
    with client_for(server) as client:
        handle = client.submit("noop", {"sleep_ms": 20_000})
        handle.cancel()
        assert handle.wait(timeout=60).status is genq.JobStatus.CANCELED
        handle.delete()
        with pytest.raises(genq.NotFound) as caught:
            handle.status()
        assert caught.value.code == "job_not_found"
        with pytest.raises(genq.NotFound):
            client.jobs.delete(handle.id)


def test_a_queued_job_carries_its_place_in_the_queue(make_server: Any) -> None:
    """A queued job read through the client has its queue_position and the server's
    status_message; a job out of the queue has neither."""
    server: GenqServer = make_server(workers=0)
    with client_for(server) as client:
        first = client.submit("noop")
        second = client.submit("noop")
        assert client.get(first.id).queue_position == 0
        job = second.status()
        assert job.queue_position == 1
        assert job.status_message is not None
        assert "no worker serves model 'noop'" in job.status_message
        canceled = first.cancel()
        assert canceled.status is genq.JobStatus.CANCELED
        assert (canceled.queue_position, client.get(first.id).queue_position) == (None, None)
        assert second.status().queue_position == 0


@pytest.mark.backends("sqlite", "postgres")
def test_a_running_job_read_by_its_id_carries_its_eta(server: GenqServer) -> None:
    """status() of a running job that reports progress has eta_seconds, a number of seconds
    from its rate of progress; the job once ended has none."""
    with client_for(server) as client:
        handle = client.submit("noop", {"steps": 10, "sleep_ms": 3000})
        wait_until(lambda: handle.status().progress.step >= 2, timeout=60)
        eta = handle.status().eta_seconds
        assert eta is not None
        assert 0 < eta < 60, eta
        handle.cancel()
        assert handle.wait(timeout=60).eta_seconds is None


def test_jobs_list_pages_through_next_cursor(server: GenqServer) -> None:
    """jobs.list() walks every page, newest first, and stops after limit jobs."""
    key = server.new_key(f"lister-{uuid.uuid4().hex[:6]}")
    with client_for(server, key) as client:
        submitted = [client.submit("noop").id for _ in range(5)]
        listed = [job.id for job in client.jobs.list(page_size=2)]
        assert listed == submitted[::-1]
        assert [job.id for job in client.jobs.list(page_size=2, limit=3)] == listed[:3]
        assert list(client.jobs.list(model="demo-image")) == []
        client.job(submitted[0]).wait(timeout=60)
        done = [job.id for job in client.jobs.list(status=genq.JobStatus.SUCCEEDED)]
        assert submitted[0] in done


def test_models_list_and_get(server: GenqServer) -> None:
    """models.list() and models.get() describe the server's models, by name or alias."""
    with client_for(server) as client:
        models = {model.name: model for model in client.models.list()}
        noop = client.models.get("noop")
    assert {"noop", "demo-image", "demo-text"} <= set(models)
    assert models["noop"] == noop
    assert noop.modality == "text"
    assert "steps" in noop.input_schema["properties"]
    assert noop.price["per_job"] == 0.0001
    assert noop.available is True
    assert models["demo-image"].modality == "image"


def test_a_failed_job_is_retried_through_a_handle(server: GenqServer) -> None:
    """jobs.retry() and JobHandle.retry() make a new job linked to the failed one; retrying a
    job that succeeded raises Conflict; a retry with the same Idempotency-Key is made once."""
    with client_for(server) as client:
        failed = client.submit("noop", {"fail": "boom"}, metadata={"n": 2})
        failed.wait(timeout=60)
        again = failed.retry()
        assert again.job is not None
        assert again.id != failed.id
        assert (again.job.retry_of, again.job.metadata) == (failed.id, {"n": 2})
        assert failed.status().retried_by == again.id
        assert again.wait(timeout=60).status is genq.JobStatus.FAILED
        key = str(uuid.uuid4())
        third = client.jobs.retry(again.id, idempotency_key=key)
        assert client.jobs.retry(again.id, idempotency_key=key).id == third.id
        assert third.status().retry_of == again.id
        done = client.submit("noop").wait(timeout=60)
        with pytest.raises(genq.Conflict, match="succeeded"):
            client.jobs.retry(done.id)
