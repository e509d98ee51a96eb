"""A model's streamed values (``ctx.partial``), through a worker in process with a real store
on each engine: kept in order with streamed text, made storable, and dropped with a log line
when too large or not JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from genq.jobs import EventRecord, EventType
from genq.limits import MAX_PARTIAL_BYTES
from genq.models.base import Model, RunContext
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import open_store
from genq.worker.runner import Worker
from tests.pg import drop_schema, new_schema, store_url

#: NUL in a key and in strings; a lone surrogate, as str() of an undecodable file name has.
UNSTORABLE = {"key\x00": ["nul\x00", "surrogate\udcff", {"x": "\x00"}]}


@dataclasses.dataclass
class Piece:
    text: str


class Streamer(Model):
    """Streams what its input's ``steps`` say, in order: ``["text", delta]``, ``["value",
    json]``, ``["large", size]`` (a string of that many characters), ``["unstorable"]`` (one
    with NUL and a lone surrogate, which no input may hold) or ``["set"]`` (a value JSON has
    no form for), ``["dataclass"]`` (a value of a type JSON lacks, holding a NUL) or
    ``["int-keys"]`` (keys that are not strings, one meeting another once written)."""

    name = "streamer"
    input_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        for kind, *args in input["steps"]:
            if kind == "text":
                ctx.text(args[0])
            elif kind == "value":
                ctx.partial(args[0])
            elif kind == "large":
                ctx.partial("x" * args[0])
            elif kind == "unstorable":
                ctx.partial(UNSTORABLE)
            elif kind == "set":
                ctx.partial({1, 2})
            elif kind == "dataclass":
                ctx.partial({"p": Piece("a\x00b")})
            elif kind == "int-keys":
                ctx.partial({1: "a", "1": "b"})


@pytest.fixture(params=["sqlite", "postgres"])
def run_job(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Run one streamer job with given steps through a worker; its events, in order."""
    schema = new_schema("partial") if request.param == "postgres" else None
    settings = Settings(
        data_dir=tmp_path,
        db=store_url(schema) if schema else None,
        models={"streamer": {"entrypoint": "tests.worker.test_partial:Streamer"}},
        # Text is stored once a minute: only a partial value makes it be stored sooner.
        progress_interval_seconds=60,
    )
    store = open_store(settings.db_url)
    registry = ModelRegistry(settings.models)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    service = JobService(settings, store, storage, registry, LocalNotifier())
    account = store.ensure_account("tester", None, time.time()).id

    def run(steps: list[list[Any]]) -> list[EventRecord]:
        submitted = asyncio.run(service.submit(account, "streamer", {"steps": steps}))
        job_id = submitted[0].id
        assert Worker(settings, "w-test", store=store, registry=registry).run(burst=True) == 1
        job = store.get_job_any_account(job_id, time.time())
        assert job is not None
        assert job.status == "succeeded", job
        return store.events_after(job_id, 0)

    yield run
    store.close()
    if schema:
        drop_schema(schema)


def streamed(events: list[EventRecord]) -> list[tuple[str, Any]]:
    """The text (runs of deltas joined), values and log lines among ``events``, in order."""
    found: list[tuple[str, Any]] = []
    for event in events:
        if event.type is EventType.TEXT and found and found[-1][0] == "text":
            found[-1] = ("text", found[-1][1] + event.data["delta"])
        elif event.type is EventType.TEXT:
            found.append(("text", event.data["delta"]))
        elif event.type is EventType.PARTIAL:
            found.append(("value", event.data["value"]))
        elif event.type is EventType.LOG:
            found.append(("log", event.data["message"]))
    return found


def test_values_keep_their_place_among_text_deltas(run_job: Any) -> None:
    """Text streamed before a value is stored before it, and each value once, in order."""
    events = run_job(
        [
            ["text", "a"],
            ["text", "b"],
            ["value", {"n": 1}],
            ["text", "c"],
            ["value", [1, "two", None, True, 2.5]],
            ["value", "three"],
        ]
    )
    assert streamed(events) == [
        ("text", "ab"),
        ("value", {"n": 1}),
        ("text", "c"),
        ("value", [1, "two", None, True, 2.5]),
        ("value", "three"),
    ]


def test_nul_and_lone_surrogates_are_stored_as_replacement_characters(run_job: Any) -> None:
    """A value whose strings and keys hold NUL or a lone surrogate is kept, each of those
    characters made U+FFFD (PostgreSQL's JSON cannot hold a NUL)."""
    events = run_job([["unstorable"]])
    assert streamed(events) == [
        ("value", {"key\ufffd": ["nul\ufffd", "surrogate\ufffd", {"x": "\ufffd"}]})
    ]


def test_a_value_too_large_is_dropped_with_a_log_line(run_job: Any) -> None:
    """A value over 256 KiB as JSON is not stored: a log line says so, and the values around
    it are kept; one just under the limit is kept."""
    under = MAX_PARTIAL_BYTES - 2  # its JSON adds the two quotes
    events = run_job([["value", 1], ["large", MAX_PARTIAL_BYTES], ["large", under], ["value", 2]])
    found = streamed(events)
    assert [kind for kind, _ in found] == ["value", "log", "value", "value"]
    assert found[0] == ("value", 1)
    assert "a streamed value was dropped" in found[1][1]
    assert f"more than {MAX_PARTIAL_BYTES}" in found[1][1]
    assert found[2] == ("value", "x" * under)
    assert found[3] == ("value", 2)


def test_a_value_that_is_not_json_is_dropped_with_a_log_line(run_job: Any) -> None:
    """A value JSON has no form for (a set) is not stored, a log line says why, and the job
    goes on."""
    found = streamed(run_job([["set"], ["value", "after"]]))
    assert [kind for kind, _ in found] == ["log", "value"]
    assert "not a JSON value" in found[0][1]
    assert found[1] == ("value", "after")


def test_values_of_other_types_or_with_other_keys_are_dropped(run_job: Any) -> None:
    """A value holding something other than JSON's own types (a dataclass, whose NUL would
    reach the store unchanged) or an object key that is not a string (1 and "1" would meet)
    is not stored: a log line says why each time, and the job goes on."""
    found = streamed(run_job([["dataclass"], ["int-keys"], ["value", "after"]]))
    assert [kind for kind, _ in found] == ["log", "log", "value"]
    assert "not a JSON value: a Piece" in found[0][1]
    assert "not a string" in found[1][1]
    assert found[2] == ("value", "after")
