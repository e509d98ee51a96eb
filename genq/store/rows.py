"""Rows to values, shared by the store implementations (their columns have the same names)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from genq.jobs import Account, ApiKey, Event, EventType, Job, JobError, JobStatus, Output, Progress


class Row(Protocol):
    """A result row read by column name: ``sqlite3.Row`` or a psycopg dict row."""

    def __getitem__(self, key: str) -> Any: ...


#: Turns a stored JSON column into a value: ``orjson.loads`` for text, identity for JSONB.
Decode = Callable[[Any], Any]


def job_from_row(row: Row, decode: Decode) -> Job:
    error = None
    if row["error_code"] is not None:
        error = JobError(row["error_code"], row["error_message"] or "")
    return Job(
        id=row["id"],
        account_id=row["account_id"],
        model=row["model"],
        input=decode(row["input"]),
        status=JobStatus(row["status"]),
        priority=row["priority"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        cost_estimate=row["cost_estimate"],
        metadata=decode(row["metadata"]),
        progress=Progress(row["progress_step"], row["progress_total"], row["progress_message"]),
        outputs=tuple(Output.from_dict(o) for o in decode(row["outputs"])),
        error=error,
        cost_actual=row["cost_actual"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        inference_time=row["inference_time"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def key_from_row(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        account_id=row["account_id"],
        account_name=row["account_name"],
        name=row["name"],
        prefix=row["prefix"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


def account_from_row(row: Row) -> Account:
    return Account(row["id"], row["name"], row["credits"], row["created_at"])


def event_from_row(row: Row, decode: Decode) -> Event:
    return Event(
        row["id"], row["job_id"], EventType(row["type"]), decode(row["data"]), row["created_at"]
    )


def status_event_data(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = {"status": job.status.value}
    if job.error is not None:
        data["error"] = {"code": job.error.code, "message": job.error.message}
    return data


def progress_event_data(progress: Progress) -> dict[str, Any]:
    return {
        "step": progress.step,
        "total": progress.total,
        "fraction": progress.fraction,
        "message": progress.message,
    }


def worker_lost_message(max_attempts: int) -> str:
    return f"the worker running this job was lost {max_attempts} times"
