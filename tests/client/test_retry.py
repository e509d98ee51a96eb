"""Retries: transient failures are retried with backoff, a submit never makes two jobs, and
other errors are not retried."""

from __future__ import annotations

import email.utils
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import genq
from tests.client.transports import AnswerFirst, LoseAnswers, error_answer
from tests.conftest import GenqServer, free_port

pytestmark = pytest.mark.backends("sqlite")


def is_submit(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path == "/v1/jobs"


def test_a_submit_whose_answer_was_lost_is_retried_without_a_second_job(
    server: GenqServer,
) -> None:
    """A submit that reached the server but lost its answer is retried with the same
    Idempotency-Key: the retry gets the original job and the account has one job."""
    key = server.new_key(f"lossy-{uuid.uuid4().hex[:6]}")
    transport = LoseAnswers(is_submit)
    with genq.Client(server.url, key, transport=transport) as client:
        handle = client.submit("noop", {"output_text": "once"})
    first, retry = transport.sent("POST", "/v1/jobs")
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
    uuid.UUID(first.headers["Idempotency-Key"])
    with server.client(key) as api:
        listed = api.get("/v1/jobs").json()["data"]
    assert [job["id"] for job in listed] == [handle.id]


def test_a_given_idempotency_key_is_sent_and_replays_the_job(server: GenqServer) -> None:
    """A caller's own Idempotency-Key is sent as it is: submitting twice gives one job."""
    key = f"order-{uuid.uuid4()}"
    with genq.Client(server.url, server.key) as client:
        first = client.submit("noop", idempotency_key=key)
        again = client.submit("noop", idempotency_key=key)
        assert again.id == first.id
        with pytest.raises(genq.Conflict) as caught:
            client.submit("noop", {"steps": 1}, idempotency_key=key)
    assert caught.value.code == "idempotency_conflict"


def test_a_delete_whose_answer_was_lost_counts_as_done(server: GenqServer) -> None:
    """A DELETE retried after a lost answer gets 404, which means the first one worked."""
    transport = LoseAnswers(lambda request: request.method == "DELETE")
    with genq.Client(server.url, server.key, transport=transport) as client:
        handle = client.submit("noop")
        handle.delete()
        assert len(transport.sent("DELETE")) == 2
        with pytest.raises(genq.NotFound):
            client.get(handle.id)


def test_429_is_retried_after_retry_after_seconds(server: GenqServer) -> None:
    """A 429 with Retry-After: 1 is retried once that second has passed, and succeeds."""
    transport = AnswerFirst(lambda: error_answer(429, "rate_limited", {"Retry-After": "1"}))
    with genq.Client(server.url, server.key, transport=transport) as client:
        started = time.monotonic()
        assert client.models.get("noop").name == "noop"
        waited = time.monotonic() - started
    assert len(transport.requests) == 2
    assert waited >= 0.9


def test_retry_after_may_be_an_http_date(server: GenqServer) -> None:
    """Retry-After given as an HTTP date is waited out as well."""
    when = datetime.now(UTC) + timedelta(seconds=2)
    header = email.utils.format_datetime(when, usegmt=True)
    transport = AnswerFirst(lambda: error_answer(429, "rate_limited", {"Retry-After": header}))
    with genq.Client(server.url, server.key, transport=transport) as client:
        started = time.monotonic()
        client.models.list()
        waited = time.monotonic() - started
    assert len(transport.requests) == 2
    assert waited >= 0.5  # the date has whole seconds: at least one of the two is left


def test_429_past_max_retries_raises_rate_limited(server: GenqServer) -> None:
    """Once retries are spent, a 429 is raised as RateLimited with the server's Retry-After."""
    transport = AnswerFirst(
        lambda: error_answer(429, "rate_limited", {"Retry-After": "0"}), times=10
    )
    with (
        genq.Client(server.url, server.key, transport=transport, max_retries=2) as client,
        pytest.raises(genq.RateLimited) as caught,
    ):
        client.models.list()
    assert len(transport.requests) == 3
    assert caught.value.retry_after == 0
    assert caught.value.code == "rate_limited"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_unavailable_errors_are_retried(server: GenqServer, status: int) -> None:
    """502, 503 and 504 are retried with backoff until the server answers."""
    transport = AnswerFirst(lambda: error_answer(status, "store_unavailable"), times=2)
    with genq.Client(server.url, server.key, transport=transport) as client:
        job = client.run("noop")
    assert job.status is genq.JobStatus.SUCCEEDED
    assert len(transport.sent("POST", "/v1/jobs")) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, genq.APIError),
        (401, genq.AuthenticationError),
        (403, genq.PermissionDenied),
        (404, genq.NotFound),
        (409, genq.Conflict),
        (422, genq.ValidationError),
        (500, genq.ServerError),
    ],
)
def test_other_errors_are_not_retried(
    server: GenqServer, status: int, error: type[genq.APIError]
) -> None:
    """Any other 4xx and a 500 are raised at once, as the APIError subclass of their status."""
    transport = AnswerFirst(lambda: error_answer(status), times=10)
    with (
        genq.Client(server.url, server.key, transport=transport) as client,
        pytest.raises(error) as caught,
    ):
        client.submit("noop")
    assert type(caught.value) is error
    assert len(transport.requests) == 1
    assert (caught.value.status_code, caught.value.code) == (status, "test_error")


def test_a_503_for_a_missing_model_package_is_not_retried(server: GenqServer) -> None:
    """A 503 model_unavailable (packages missing on the server) is raised at once."""
    transport = AnswerFirst(lambda: error_answer(503, "model_unavailable"), times=10)
    with (
        genq.Client(server.url, server.key, transport=transport) as client,
        pytest.raises(genq.ServerError) as caught,
    ):
        client.submit("noop")
    assert caught.value.code == "model_unavailable"
    assert len(transport.requests) == 1


def test_connection_errors_are_retried(server: GenqServer) -> None:
    """A refused connection and a timeout are retried."""
    transport = AnswerFirst(error=httpx.ConnectError("refused by the test"), times=1)
    with genq.Client(server.url, server.key, transport=transport) as client:
        assert client.models.list()
    transport = AnswerFirst(error=httpx.ReadTimeout("slow, said the test"), times=1)
    with genq.Client(server.url, server.key, transport=transport) as client:
        assert client.models.list()
    assert len(transport.requests) == 2


def test_an_unreachable_server_raises_transport_error() -> None:
    """A server that cannot be reached raises TransportError once retries are spent."""
    with (
        genq.Client(f"http://127.0.0.1:{free_port()}", "key", max_retries=1) as client,
        pytest.raises(genq.TransportError, match=r"ConnectError.*after 2 attempts"),
    ):
        client.models.list()


def test_backoff_grows_and_is_jittered() -> None:
    """Backoff doubles with each attempt, up to its cap, and varies between clients."""
    from genq.client._retry import RetryPolicy

    policy = RetryPolicy(base=0.5, cap=4.0)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0]):
        delays = {policy.backoff(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
