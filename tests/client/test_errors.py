"""Errors: what the server says reaches the caller as one typed exception."""

from __future__ import annotations

import re
import uuid

import pytest

import genq
from genq.client import _errors
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def test_a_validation_error_carries_the_servers_code_and_details(server: GenqServer) -> None:
    """Invalid input raises ValidationError with code validation_error and each failing path."""
    with (
        genq.Client(server.url, server.key) as client,
        pytest.raises(genq.ValidationError) as caught,
    ):
        client.submit("noop", {"steps": -1, "colour": "red"})
    error = caught.value
    assert (error.status_code, error.code) == (422, "validation_error")
    assert {d["path"] for d in error.details} == {"input/steps", "input/colour"}
    assert "input/steps" in str(error)


def test_an_unknown_model_is_not_found_with_model_not_found(server: GenqServer) -> None:
    """Submitting to, or describing, an unknown model raises NotFound model_not_found."""
    with genq.Client(server.url, server.key) as client:
        with pytest.raises(genq.NotFound) as submitted:
            client.submit("no-such-model")
        with pytest.raises(genq.NotFound) as described:
            client.models.get("no-such-model")
    assert submitted.value.code == described.value.code == "model_not_found"


def test_an_unknown_job_is_not_found_with_job_not_found(server: GenqServer) -> None:
    """Reading, following or cancelling an unknown job raises NotFound job_not_found."""
    with genq.Client(server.url, server.key) as client:
        for attempt in (
            lambda: client.get("job_nope"),
            lambda: client.job("job_nope").wait(timeout=30),
            lambda: client.jobs.cancel("job_nope"),
            lambda: client.jobs.delete("job_nope"),
        ):
            with pytest.raises(genq.NotFound) as caught:
                attempt()
            assert caught.value.code == "job_not_found"


def test_a_wrong_key_raises_authentication_error(server: GenqServer) -> None:
    """An unknown API key raises AuthenticationError with code unauthorized."""
    with (
        genq.Client(server.url, "gq_wrong") as client,
        pytest.raises(genq.AuthenticationError) as caught,
    ):
        client.models.list()
    assert (caught.value.status_code, caught.value.code) == (401, "unauthorized")


def test_too_few_credits_raises_insufficient_credits(server: GenqServer) -> None:
    """A job costing more than the account has left raises InsufficientCredits."""
    key = server.new_key(f"poor-{uuid.uuid4().hex[:6]}", "--credits", "0.01")
    with genq.Client(server.url, key) as client, pytest.raises(genq.InsufficientCredits) as caught:
        client.submit("demo-image", {"prompt": "x", "num_images": 8})
    assert caught.value.code == "insufficient_credits"


def test_cancelling_a_finished_job_is_a_conflict(server: GenqServer) -> None:
    """Cancelling a job that has succeeded raises Conflict job_not_cancelable."""
    with genq.Client(server.url, server.key) as client:
        job = client.run("noop")
        with pytest.raises(genq.Conflict) as caught:
            client.job(job.id).cancel()
    assert caught.value.code == "job_not_cancelable"


def drawn_parents(tree: str) -> dict[str, str | None]:
    """{name: parent} as drawn: a name's parent is the nearest name above it drawn to its left."""
    parents: dict[str, str | None] = {}
    above: list[tuple[int, str]] = []
    for line in tree.splitlines():
        match = re.match(r"^(?:[│ ]*[├└]── )?([A-Z]\w+)(?:\s|$)", line)
        if match is None or not hasattr(_errors, match[1]):
            continue
        column = match.start(1)
        above = [(c, name) for c, name in above if c < column]
        parents[match[1]] = above[-1][1] if above else None
        above.append((column, match[1]))
    return parents


def test_the_tree_in_the_docstring_draws_every_exception_under_its_base() -> None:
    """The tree in the errors module's docstring shows every exception under its base class."""
    exceptions = {
        name: value
        for name, value in vars(_errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    parents = drawn_parents(_errors.__doc__ or "")
    assert set(parents) == set(exceptions)
    for name, exception in exceptions.items():
        base = exception.__bases__[0].__name__
        assert parents[name] == (None if base == "Exception" else base), name
        assert getattr(genq, name) is exception
