"""A job as a Replicate prediction: the body of every prediction answer, of the list, and of
the calls to a webhook set through this API.

Statuses: queued is ``starting``, running ``processing``; succeeded, failed and canceled are
themselves. An expired job (no worker took it before its start deadline) is ``failed`` with
its reason as ``error``: it did not run, and the client raises ``ModelError`` for a failed
prediction where it would return nothing for a canceled one, which nobody asked for here.

The output is what the version's ``Output`` says (``catalog.OUTPUTS``): a text model's text in
the pieces it streamed (joined, the text), file URLs for the others. ``logs`` holds the
model's log lines, then a progress bar in tqdm's form, from which the client reads
``Prediction.progress``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

from genq.http.auth import Caller
from genq.http.dialects.base import dialect_settings, origin_request
from genq.http.dialects.replicate import DIALECT
from genq.http.dialects.replicate.settings import ReplicateSettings
from genq.http.links import Links
from genq.http.render import isotime
from genq.jobs import JobRecord, Status, WebhookEvent
from genq.service import JobService
from genq.service.follow import Transcript

#: Where this API's routes are: a client's base URL is genq's address and this.
PREFIX = "/replicate"

STATUS_WORDS = {
    Status.QUEUED: "starting",
    Status.RUNNING: "processing",
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "failed",
    Status.CANCELED: "canceled",
    Status.EXPIRED: "failed",
}
#: What a prediction that ended without running to completion says, without an error of its own.
ENDINGS = {Status.EXPIRED: "the prediction expired before a worker took it"}
PROGRESS_BAR = 10


def settings_of(caller: Caller) -> ReplicateSettings:
    return cast(ReplicateSettings, dialect_settings(caller, DIALECT.name))


def api_root(caller: Caller) -> str:
    """This API's root URL as the caller reaches it: genq's address and ``/replicate``."""
    return caller.base_url.rstrip("/") + PREFIX


def view_of(caller: Caller) -> View:
    return View(caller.svc, api_root(caller), caller.links)


@dataclass(frozen=True)
class View:
    """Predictions as one caller sees them: the service, this API's root URL (genq's address
    and ``/replicate``), and the links to the jobs' files."""

    svc: JobService
    root: str
    links: Links

    def urls(self, job: JobRecord) -> dict[str, str]:
        own = f"{self.root}/v1/predictions/{job.id}"
        urls = {"get": own, "cancel": f"{own}/cancel"}
        request = origin_request(job)
        if request.get("stream") or request.get("output") == "text":
            urls["stream"] = f"{own}/stream"
        return urls

    async def prediction(
        self, job: JobRecord, *, status: str | None = None, brief: bool = False
    ) -> dict[str, Any]:
        """The prediction of ``job``, showing ``status`` rather than its own where given;
        ``brief`` (a list's item) leaves its logs out."""
        request = origin_request(job)
        kind = request.get("output", "any")
        transcript = Transcript()
        if not brief or kind in ("text", "any"):
            transcript = await self.svc.transcript(job)
        return {
            "id": job.id,
            "model": request.get("model", job.model),
            "version": request.get("version", ""),
            "input": request.get("input", {}),
            "logs": None if brief else logs(job, transcript),
            "output": await self.output(job, kind, transcript),
            "data_removed": False,
            "error": error(job),
            "status": status or STATUS_WORDS[job.status],
            "source": "api",
            "created_at": isotime(job.created_at),
            "started_at": isotime(job.started_at),
            "completed_at": isotime(job.finished_at) if job.terminal else None,
            "metrics": metrics(job),
            "urls": self.urls(job),
        }

    async def output(self, job: JobRecord, kind: str, transcript: Transcript) -> Any:
        if kind == "text":
            if transcript.text:
                return list(transcript.text)
            # A text model that wrote its text at once, streaming none.
            if job.status is Status.SUCCEEDED:
                text = await self.svc.output_text(job)
                return [text] if text else []
            return None if job.status is Status.QUEUED else []
        urls = [links.url for links in self.links.outputs(job)]
        if kind == "files":
            return urls if job.status is Status.SUCCEEDED else None
        if len(urls) > 1:
            return urls
        if urls:
            return urls[0]
        return list(transcript.values) if transcript.values else None


def error(job: JobRecord) -> str | None:
    if job.status not in (Status.FAILED, Status.EXPIRED):
        return None
    if job.error is not None:
        return job.error.message
    return ENDINGS.get(job.status, f"the prediction {job.status.value}")


def metrics(job: JobRecord) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if job.inference_time is not None:
        found["predict_time"] = round(job.inference_time, 6)
    if job.finished_at is not None:
        found["total_time"] = round(job.finished_at - job.created_at, 6)
    return found


def logs(job: JobRecord, transcript: Transcript) -> str:
    """The model's log lines, and its progress as tqdm draws it (``50%|█████     | 4/8``)."""
    lines = list(transcript.logs)
    progress = job.progress
    if progress.total > 0:
        fraction = progress.fraction
        filled = math.floor(fraction * PROGRESS_BAR)
        bar = "\u2588" * filled + " " * (PROGRESS_BAR - filled)
        lines.append(f"{math.floor(fraction * 100):3d}%|{bar}| {progress.step}/{progress.total}")
    return "\n".join(lines)


async def webhook_body(
    service: JobService, job: JobRecord, event: WebhookEvent, base_url: str, links: Links
) -> dict[str, Any]:
    """The body of a call to a webhook set through this API: the prediction, as Replicate
    sends it."""
    view = View(service, base_url.rstrip("/") + PREFIX, links)
    return await view.prediction(job)
