"""What fal's queue answers about a request, made from its job: the status object, the
result, the error of a request that ended without one, and the body of its webhook call.

Statuses: ``IN_QUEUE`` (with ``queue_position``), ``IN_PROGRESS``, ``COMPLETED`` (each with
``logs``: a list of ``{message, level, source, timestamp}`` when asked for, else null). A
request that failed, was canceled or missed its start deadline is ``COMPLETED`` too, with
``error`` and ``error_type``; its result answers 4xx/5xx ``{"detail", "error_type"}``.

Results by what the model makes:

- image: ``{"images": [FILE + width, height], "seed", "prompt", "timings": {"inference"},
  "has_nsfw_concepts"}``
- video: ``{"video": FILE, "seed", "prompt", "timings"}``; audio: ``{"audio": FILE, ...}``
- text: ``{"output": TEXT, "partial": false, "reasoning": null, "error": null}``
- anything else: ``{"files": [FILE, ...]}``

where FILE is ``{"url", "content_type", "file_name", "file_size"}``.
"""

from __future__ import annotations

from typing import Any

from genq import deadlines
from genq.errors import ServiceError
from genq.http.links import Links
from genq.http.render import isotime
from genq.jobs import JobRecord, OutputRecord, Status, WebhookEvent
from genq.service import JobService

#: fal's status word for each of genq's.
STATUS_WORDS = {
    Status.QUEUED: "IN_QUEUE",
    Status.RUNNING: "IN_PROGRESS",
    Status.SUCCEEDED: "COMPLETED",
    Status.FAILED: "COMPLETED",
    Status.CANCELED: "COMPLETED",
    Status.EXPIRED: "COMPLETED",
}
#: How a failed job's error code answers: its HTTP status and fal's error type for it.
FAILURES = {
    deadlines.TIMEOUT_CODE: (504, "request_timeout"),
    deadlines.START_DEADLINE_CODE: (504, "request_timeout"),
    "invalid_input": (422, "invalid_input"),
    "worker_lost": (503, "runner_disconnected"),
    "model_error": (500, "runner_server_error"),
    "out_of_memory": (500, "runner_server_error"),
    "model_load_failed": (500, "runner_server_error"),
}
#: The header fal's answers name the request in; with it, the client never takes an error
#: answer for its own proxy's and sends the request again.
REQUEST_ID_HEADER = "x-fal-request-id"
ERROR_TYPE_HEADER = "x-fal-error-type"


def queue_urls(base_url: str, app_base: str, job_id: str) -> dict[str, str]:
    """Where the client reads, and cancels, the request: at the app's base, without its
    path, as fal's client rebuilds them."""
    response_url = f"{base_url.rstrip('/')}/fal/queue/{app_base}/requests/{job_id}"
    return {
        "response_url": response_url,
        "status_url": f"{response_url}/status",
        "cancel_url": f"{response_url}/cancel",
    }


async def status_body(
    svc: JobService, job: JobRecord, urls: dict[str, str], *, with_logs: bool
) -> dict[str, Any]:
    word = STATUS_WORDS[job.status]
    body: dict[str, Any] = {"status": word, "request_id": job.id, **urls}
    if word == "IN_QUEUE":
        queue = await svc.queue_state(job)
        body["queue_position"] = 0 if queue is None else queue.position
    body["logs"] = await logs(svc, job) if with_logs else None
    if word == "COMPLETED":
        body["metrics"] = metrics(job)
        if job.status is not Status.SUCCEEDED:
            _, _, detail, error_type = failure(job)
            body["error"], body["error_type"] = detail, error_type
    return body


async def logs(svc: JobService, job: JobRecord) -> list[dict[str, Any]]:
    """The model's log lines, as fal shows a runner's."""
    return [
        {
            "message": event.data.get("message", ""),
            "level": "INFO",
            "source": "USER",
            "timestamp": isotime(event.created_at),
        }
        for event in await svc.logs_so_far(job)
    ]


def metrics(job: JobRecord) -> dict[str, Any]:
    if job.inference_time is None:
        return {}
    return {"inference_time": round(job.inference_time, 3)}


def failure(job: JobRecord) -> tuple[int, dict[str, str], str, str]:
    """How a request that ended without a result answers: its HTTP status, headers, detail
    and error type."""
    headers: dict[str, str] = {}
    if job.status is Status.CANCELED:
        status, error_type, detail = 499, "client_cancelled", "Request was cancelled"
    elif job.error is None:
        status, error_type, detail = 500, "internal_error", f"Request {job.status.value}"
    else:
        status, error_type = FAILURES.get(job.error.code, (500, "internal_error"))
        detail = job.error.message
        if job.error.code == deadlines.START_DEADLINE_CODE:
            # The limit the caller set (X-Fal-Request-Timeout), which the client does not
            # retry past.
            headers["X-Fal-Request-Timeout-Type"] = "user"
    headers[ERROR_TYPE_HEADER] = error_type
    return status, headers, detail, error_type


async def result_body(svc: JobService, links: Links, job: JobRecord) -> dict[str, Any]:
    """A succeeded request's result, in the shape fal's apps of the model's kind answer."""
    kind = modality(svc, job)
    if kind == "text":
        text = await svc.output_text(job)
        if text is None:
            text = await svc.text_so_far(job)
        return {"output": text, "partial": False, "reasoning": None, "error": None}
    files = [
        file_entry(output, link.url)
        for output, link in zip(job.outputs, links.outputs(job), strict=True)
    ]
    if kind not in ("image", "video", "audio"):
        return {"files": files}
    body: dict[str, Any] = {}
    if kind == "image":
        body["images"] = files
    else:
        body[kind] = files[0] if files else None
    body["seed"] = job.input.get("seed")
    if "prompt" in job.input:
        body["prompt"] = job.input["prompt"]
    body["timings"] = {} if job.inference_time is None else {"inference": job.inference_time}
    if kind == "image":
        body["has_nsfw_concepts"] = [False] * len(files)
    return body


def file_entry(output: OutputRecord, url: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "url": url,
        "content_type": output.content_type,
        "file_name": output.key.rsplit("/", 1)[-1],
        "file_size": output.size,
    }
    for name in ("width", "height", "duration"):
        value = getattr(output, name)
        if value is not None:
            entry[name] = value
    return entry


def modality(svc: JobService, job: JobRecord) -> str:
    try:
        return str(svc.model(job.model).model.modality)
    except ServiceError:  # a model taken out of the config since
        return "none"


async def webhook_body(
    svc: JobService, job: JobRecord, event: WebhookEvent, base_url: str, links: Links
) -> dict[str, Any]:
    """The body of the call to a request's ``fal_webhook``, as fal makes it when the request
    is done: ``status`` OK with the result as ``payload``, or ERROR with the error."""
    body: dict[str, Any] = {"request_id": job.id, "gateway_request_id": job.id}
    if job.status is Status.SUCCEEDED:
        payload = await result_body(svc, links, job)
        return {**body, "status": "OK", "payload": payload, "error": None}
    if not job.terminal:  # a call for another event than the end: the request so far
        return {**body, "status": STATUS_WORDS[job.status], "payload": None, "error": None}
    status, _, detail, error_type = failure(job)
    return {
        **body,
        "status": "ERROR",
        "payload": {"detail": detail, "error_type": error_type},
        "error": f"Invalid status code: {status}",
    }
