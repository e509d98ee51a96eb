"""Rows to values (the engines' columns have the same names), and the rules the store applies
around its SQL.

Money columns (``credits_micros``, ``cost_estimate_micros``, ``cost_actual_micros``) hold whole
micro-credits; the values here hold exact ``Decimal`` credits (see ``genq.credits``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from genq import pricing
from genq.credits import from_micros, to_micros
from genq.jobs import (
    Account,
    AccountLimits,
    ApiKey,
    DeliveryRecord,
    DeliveryState,
    EventRecord,
    EventType,
    Failure,
    JobRecord,
    OriginRecord,
    OutputRecord,
    ProgressRecord,
    Status,
    WebhookEndpoint,
    WebhookEvent,
)
from genq.store.base import NewJob


class Row(Protocol):
    """A result row read by column name: ``sqlite3.Row`` or a psycopg dict row."""

    def __getitem__(self, key: str) -> Any: ...


#: Turns a stored JSON column into a value: ``orjson.loads`` for text, identity for JSONB.
Decode = Callable[[Any], Any]


def job_from_row(row: Row, decode: Decode) -> JobRecord:
    error = None
    if row["error_code"] is not None:
        error = Failure(row["error_code"], row["error_message"] or "")
    return JobRecord(
        id=row["id"],
        account_id=row["account_id"],
        model=row["model"],
        input=decode(row["input"]),
        status=Status(row["status"]),
        priority=row["priority"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        cost_estimate=from_micros(row["cost_estimate_micros"]),
        metadata=decode(row["metadata"]),
        progress=ProgressRecord(
            row["progress_step"], row["progress_total"], row["progress_message"]
        ),
        outputs=tuple(OutputRecord.from_dict(o) for o in decode(row["outputs"])),
        error=error,
        cost_actual=_amount(row["cost_actual_micros"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        inference_time=row["inference_time"],
        load_time=row["load_time"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
        batch_key=row["batch_key"],
        origin=None
        if row["origin_api"] is None
        else OriginRecord(row["origin_api"], row["origin_model"], decode(row["origin_request"])),
        webhook=row["webhook"],
        webhook_events=tuple(WebhookEvent(e) for e in decode(row["webhook_events"])),
        start_deadline=row["start_deadline"],
        timeout_seconds=row["timeout_seconds"],
        retry_of=row["retry_of"],
        retried_by=row["retried_by"],
        run_after=row["run_after"],
        output_bytes=row["output_bytes"],
        fair_charge=row["fair_charge"],
    )


def delivery_from_row(row: Row) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        job_id=row["job_id"],
        account_id=row["account_id"],
        event=WebhookEvent(row["event"]),
        url=row["url"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_at=row["next_at"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        finished_at=row["finished_at"],
        endpoint_id=row["endpoint_id"],
        retry_from=row["retry_from"],
    )


def endpoint_from_row(row: Row, decode: Decode) -> WebhookEndpoint:
    models = row["models"]
    return WebhookEndpoint(
        id=row["id"],
        account_id=row["account_id"],
        url=row["url"],
        events=tuple(WebhookEvent(e) for e in decode(row["events"])),
        models=None if models is None else tuple(decode(models)),
        description=row["description"],
        secret=row["secret"],
        created_at=row["created_at"],
        previous_secret=row["previous_secret"],
        previous_until=row["previous_until"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
    )


def key_from_row(row: Row, *, with_limits: bool = False) -> ApiKey:
    """The key of ``row``; ``with_limits``: the row has its account's limit columns too
    (``KEY_BY_HASH``)."""
    return ApiKey(
        id=row["id"],
        account_id=row["account_id"],
        account_name=row["account_name"],
        name=row["name"],
        prefix=row["prefix"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        key_hash=row["key_hash"],
        limits=limits_from_row(row) if with_limits else None,
    )


def account_from_row(row: Row) -> Account:
    return Account(
        row["id"],
        row["name"],
        _amount(row["credits_micros"]),
        row["created_at"],
        admin=bool(row["admin"]),
        weight=row["weight"],
        limits=limits_from_row(row),
    )


def limits_from_row(row: Row) -> AccountLimits:
    """An account's limits, from its row (or a row that joined its limit columns)."""
    return AccountLimits(
        max_running=row["max_running"],
        max_queued=row["max_queued"],
        rate_per_second=row["rate_per_second"],
        rate_burst=row["rate_burst"],
        storage_quota_bytes=row["storage_quota_bytes"],
    )


def balance_micros(credits: Decimal | None) -> int | None:
    """The ``credits_micros`` column of a balance (None: no limit)."""
    return None if credits is None else to_micros(credits)


def _amount(micros: int | None) -> Decimal | None:
    return None if micros is None else from_micros(micros)


def event_from_row(row: Row, decode: Decode) -> EventRecord:
    return EventRecord(
        row["id"], row["job_id"], EventType(row["type"]), decode(row["data"]), row["created_at"]
    )


def event_columns(job_id: str, type: str, data: Any, created_at: float) -> dict[str, Any]:
    """The columns of an event's row (``data`` encoded)."""
    return {"job_id": job_id, "type": type, "data": data, "created_at": created_at}


def new_delivery_id() -> str:
    """A webhook call's ``webhook-id`` (as Standard Webhooks writes them: ``msg_...``)."""
    return "msg_" + secrets.token_hex(16)


def delivery_columns(row: Row, event: WebhookEvent, at: float) -> dict[str, Any]:
    """The columns of a new call of the job's own webhook for ``event``, made at ``at``."""
    return {
        "id": new_delivery_id(),
        "job_id": row["id"],
        "account_id": row["account_id"],
        "event": event.value,
        "url": row["webhook"],
        "at": at,
    }


def status_event_data(row: Row) -> dict[str, Any]:
    """The data of the ``status`` event of a job's row, just changed."""
    data: dict[str, Any] = {"status": row["status"]}
    if row["error_code"] is not None:
        data["error"] = {"code": row["error_code"], "message": row["error_message"] or ""}
    return data


def progress_event_data(progress: ProgressRecord) -> dict[str, Any]:
    return {
        "step": progress.step,
        "total": progress.total,
        "fraction": progress.fraction,
        "message": progress.message,
    }


def job_columns(new: NewJob, encode: Callable[[Any], Any]) -> dict[str, Any]:
    """The columns of a new job's row, JSON columns encoded with ``encode``."""
    origin = new.origin
    return {
        "id": new.id,
        "account_id": new.account_id,
        "model": new.model,
        "input": encode(new.input),
        "priority": new.priority,
        "metadata": encode(new.metadata),
        "cost_estimate_micros": to_micros(new.cost_estimate),
        "created_at": new.created_at,
        "expires_at": new.expires_at,
        "idempotency_key": new.idempotency_key,
        "fingerprint": new.fingerprint,
        "batch_key": new.batch_key,
        "origin_api": None if origin is None else origin.api,
        "origin_model": None if origin is None else origin.model,
        "origin_request": encode({} if origin is None else origin.request),
        "webhook": new.webhook,
        "webhook_events": encode([e.value for e in new.webhook_events]),
        "start_deadline": new.start_deadline,
        "timeout_seconds": new.timeout_seconds,
    }


def worker_lost_message(max_attempts: int) -> str:
    return f"the worker running this job was lost {max_attempts} times"


def finish_outcome(
    *,
    outputs: Sequence[OutputRecord],
    error: Failure | None,
    canceled: bool,
    cancel_requested: bool,
    cost_actual: Decimal | None,
    cost_estimate: Decimal,
) -> tuple[Status, Sequence[OutputRecord], Decimal]:
    """How a job ends: its status, the outputs it keeps and what it is charged
    (``pricing.charge``)."""
    kept: Sequence[OutputRecord]
    if canceled or (error is None and cancel_requested):
        # A cancel that came after the model's last look still wins: the caller was told the
        # job would stop.
        status, kept = Status.CANCELED, ()
    elif error is not None:
        status, kept = Status.FAILED, outputs
    else:
        status, kept = Status.SUCCEEDED, outputs
    return status, kept, pricing.charge(status, cost_actual, cost_estimate)
