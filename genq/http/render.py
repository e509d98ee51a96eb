"""How jobs, outputs and events look on the native API."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from genq.credits import credits_json
from genq.http.links import OutputLinks
from genq.jobs import DeliveryRecord, EventRecord, JobRecord, OutputRecord, Status
from genq.service import Estimate, QueueState


def isotime(timestamp: float | None) -> str | None:
    return None if timestamp is None else _isotime(timestamp)


# Kept: a polled job's times are the same on every read.
@functools.lru_cache(maxsize=16384)
def _isotime(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_urls(job_id: str, base_url: str) -> dict[str, str]:
    root = f"{base_url.rstrip('/')}/v1/jobs/{job_id}"
    return {"self": root, "events": f"{root}/events", "cancel": f"{root}/cancel"}


def media_entry(output: OutputRecord, links: OutputLinks) -> dict[str, Any]:
    """What every surface says of an output file: its link and type, its width, height and
    duration where they apply, and a video's thumbnail link."""
    entry: dict[str, Any] = {"url": links.url, "content_type": output.content_type}
    for name in ("width", "height", "duration"):
        value = getattr(output, name)
        if value is not None:
            entry[name] = value
    if links.thumbnail is not None:
        entry["thumbnail_url"] = links.thumbnail
    return entry


def render_job(
    job: JobRecord,
    base_url: str,
    links: list[OutputLinks],
    queue: QueueState | None = None,
    deliveries: list[DeliveryRecord] | None = None,
    eta: Estimate | None = None,
) -> dict[str, Any]:
    """A job on the native API; with ``deliveries``, the webhook calls for it too; with
    ``eta``, a job not ended shows ``eta_seconds`` (null where genq cannot tell)."""
    outputs = [
        {**media_entry(output, urls), "size": output.size, "sha256": output.sha256}
        for output, urls in zip(job.outputs, links, strict=True)
    ]
    body: dict[str, Any] = {
        "id": job.id,
        "object": "job",
        "model": job.model,
        "status": job.status.value,
        "cancel_requested": job.cancel_requested,
        "input": job.input,
        "priority": job.priority,
        "progress": {
            "step": job.progress.step,
            "total": job.progress.total,
            "fraction": job.progress.fraction,
            "message": job.progress.message,
        },
        "outputs": outputs,
        "error": None
        if job.error is None
        else {"code": job.error.code, "message": job.error.message},
        "cost": {
            "estimate": credits_json(job.cost_estimate),
            "actual": credits_json(job.cost_actual),
        },
        "created_at": isotime(job.created_at),
        "started_at": isotime(job.started_at),
        "finished_at": isotime(job.finished_at),
        "metrics": {
            "queue_time": job.queue_time,
            "load_time": job.load_time,
            "inference_time": job.inference_time,
        },
        "attempts": job.attempts,
        "metadata": job.metadata,
        "origin": None
        if job.origin is None
        else {"api": job.origin.api, "model": job.origin.model},
        "expires_at": isotime(job.expires_at),
        "start_deadline": isotime(job.start_deadline),
        "timeout": job.timeout_seconds,
        "urls": job_urls(job.id, base_url),
        "retry_of": job.retry_of,
        "retried_by": job.retried_by,
    }
    if job.status is Status.QUEUED and job.run_after is not None:
        # Waiting for an automatic retry (``genq.retries``).
        body["next_attempt_at"] = isotime(job.run_after)
    if queue is not None:
        body["queue_position"] = queue.position
        body["status_message"] = queue.message
    if eta is not None and not job.terminal:
        body["eta_seconds"] = eta.seconds
    if job.webhook is not None:
        body["webhook"] = job.webhook
        body["webhook_events"] = [event.value for event in job.webhook_events]
    if deliveries is not None:
        body["webhooks"] = [render_delivery(d) for d in deliveries]
    return body


def render_delivery(delivery: DeliveryRecord) -> dict[str, Any]:
    """One webhook call for a job: its ``webhook-id``, the account's endpoint it calls (None:
    the job's own webhook), event, state, attempts and the receiver's last HTTP status (None:
    no answer yet)."""
    return {
        "id": delivery.id,
        "webhook_id": delivery.endpoint_id,
        "event": delivery.event.value,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
    }


def render_event(event: EventRecord) -> dict[str, Any]:
    return {
        "job_id": event.job_id,
        "type": event.type.value,
        "created_at": isotime(event.created_at),
        **event.data,
    }
