"""What the store implementations share: rows to values (their columns have the same names)
and the rules both apply around their own SQL.

Money columns (``credits_micros``, ``cost_estimate_micros``, ``cost_actual_micros``) hold whole
micro-credits; the values here hold exact ``Decimal`` credits (see ``genq.credits``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from genq.credits import credits_json, credits_text, from_micros, to_micros
from genq.errors import InsufficientCredits
from genq.jobs import (
    Account,
    ApiKey,
    Event,
    EventType,
    Job,
    JobError,
    JobStatus,
    Origin,
    Output,
    Progress,
)
from genq.store.base import JobFilter, NewJob


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
        cost_estimate=from_micros(row["cost_estimate_micros"]),
        metadata=decode(row["metadata"]),
        progress=Progress(row["progress_step"], row["progress_total"], row["progress_message"]),
        outputs=tuple(Output.from_dict(o) for o in decode(row["outputs"])),
        error=error,
        cost_actual=_amount(row["cost_actual_micros"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        inference_time=row["inference_time"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
        batch_key=row["batch_key"],
        origin=None
        if row["origin_api"] is None
        else Origin(row["origin_api"], row["origin_model"], decode(row["origin_request"])),
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
    return Account(row["id"], row["name"], _amount(row["credits_micros"]), row["created_at"])


def balance_micros(credits: Decimal | None) -> int | None:
    """The ``credits_micros`` column of a balance (None: no limit)."""
    return None if credits is None else to_micros(credits)


def _amount(micros: int | None) -> Decimal | None:
    return None if micros is None else from_micros(micros)


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


def origin_columns(new: NewJob, encode: Callable[[Any], Any]) -> tuple[Any, Any, Any]:
    """The ``origin_api``, ``origin_model`` and ``origin_request`` values of a new job."""
    if new.origin is None:
        return None, None, encode({})
    return new.origin.api, new.origin.model, encode(new.origin.request)


def worker_lost_message(max_attempts: int) -> str:
    return f"the worker running this job was lost {max_attempts} times"


def _filter_sql(mark: str, account_id: str, now: float, where: JobFilter) -> tuple[str, list[Any]]:
    sql = f" FROM jobs WHERE account_id = {mark} AND expires_at > {mark}"
    args: list[Any] = [account_id, now]
    for column, value in (
        ("model", where.model),
        ("origin_api", where.origin_api),
        ("origin_model", where.origin_model),
    ):
        if value is not None:
            sql += f" AND {column} = {mark}"
            args.append(value)
    if where.statuses:
        sql += f" AND status IN ({', '.join([mark] * len(where.statuses))})"
        args.extend(where.statuses)
    return sql, args


def list_jobs_query(
    mark: str,
    account_id: str,
    now: float,
    *,
    limit: int,
    before_seq: int | None,
    offset: int,
    where: JobFilter,
) -> tuple[str, list[Any]]:
    """The SQL and arguments of ``JobStore.list_jobs``, with ``mark`` as the placeholder."""
    body, args = _filter_sql(mark, account_id, now, where)
    sql = "SELECT *" + body
    if before_seq is not None:
        sql += f" AND seq < {mark}"
        args.append(before_seq)
    sql += f" ORDER BY seq DESC LIMIT {mark} OFFSET {mark}"
    args.extend((limit, offset))
    return sql, args


def count_jobs_query(
    mark: str, account_id: str, now: float, where: JobFilter
) -> tuple[str, list[Any]]:
    """The SQL and arguments of ``JobStore.count_jobs``."""
    body, args = _filter_sql(mark, account_id, now, where)
    return "SELECT COUNT(*) AS n" + body, args


def check_credits(new: NewJob, credits_micros: int, held_micros: int) -> None:
    """Refuse a job whose estimate exceeds the balance less what unfinished jobs hold (they
    hold their estimates, so that a burst of submits cannot promise more than the balance).
    Takes the store's whole micro-credits: the comparison is exact."""
    credits, held = from_micros(credits_micros), from_micros(held_micros)
    available = credits - held
    if new.cost_estimate > available:
        raise InsufficientCredits(
            f"the estimated cost {credits_text(new.cost_estimate)} exceeds the available "
            f"balance {credits_text(available)} (balance {credits_text(credits)}, held by "
            f"unfinished jobs {credits_text(held)})",
            details={
                "estimate": credits_json(new.cost_estimate),
                "balance": credits_json(credits),
                "held": credits_json(held),
                "available": credits_json(available),
            },
        )


def finish_outcome(
    *,
    outputs: Sequence[Output],
    error: JobError | None,
    canceled: bool,
    cancel_requested: bool,
    cost_actual: Decimal | None,
    cost_estimate: Decimal,
) -> tuple[JobStatus, Sequence[Output], Decimal]:
    """How a job ends: its status, the outputs it keeps and what it is charged."""
    if canceled or (error is None and cancel_requested):
        # A cancel that came after the model's last look still wins: the caller was told the
        # job would stop, and a canceled job is never charged.
        return JobStatus.CANCELED, (), Decimal(0)
    if error is not None:
        return JobStatus.FAILED, outputs, Decimal(0)
    # The estimate the job held is the most it can cost.
    return JobStatus.SUCCEEDED, outputs, min(cost_actual or Decimal(0), cost_estimate)
