"""What the server's answers become: plain frozen values with no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genq.client._errors import ProtocolError


class JobStatus(enum.StrEnum):
    """A job's status; the last four are terminal and never change."""

    #: Accepted, waiting for a worker.
    QUEUED = "queued"
    #: A worker is running it.
    RUNNING = "running"
    #: Finished; its outputs are ready.
    SUCCEEDED = "succeeded"
    #: Finished with an error (``Job.error``).
    FAILED = "failed"
    #: Stopped at the caller's request.
    CANCELED = "canceled"
    #: Its retention period ended before it could finish.
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)

    @classmethod
    def parse(cls, word: Any) -> JobStatus:
        """The status a word names; a word this client does not know is a ``ProtocolError``."""
        try:
            return cls(word)
        except ValueError:
            raise ProtocolError(f"unknown job status {word!r}") from None


@dataclass(frozen=True)
class Progress:
    """How far a running job is: ``step`` of ``total`` (0 of 0 until it reports)."""

    step: int = 0
    total: int = 0
    fraction: float = 0.0
    message: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Progress:
        return cls(
            step=int(data.get("step") or 0),
            total=int(data.get("total") or 0),
            fraction=float(data.get("fraction") or 0.0),
            message=data.get("message"),
        )


@dataclass(frozen=True)
class Output:
    """One result file; ``url`` is a signed link that needs no API key."""

    url: str
    content_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    #: A JPEG of a video's first frame.
    thumbnail_url: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Output:
        return cls(
            url=str(data["url"]),
            content_type=str(data["content_type"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            width=data.get("width"),
            height=data.get("height"),
            duration=data.get("duration"),
            thumbnail_url=data.get("thumbnail_url"),
        )


@dataclass(frozen=True)
class JobErrorInfo:
    """Why a job failed: a stable ``code`` (``model_error``, ``worker_lost``, ...) and a
    message. (The exception raised for a failed job is ``JobFailed``.)"""

    code: str
    message: str


@dataclass(frozen=True)
class Origin:
    """Where a job came from: the API that created it and the model name it was given."""

    api: str
    model: str


@dataclass(frozen=True)
class Job:
    """A job as the server last described it; ``raw`` is the whole JSON object."""

    id: str
    model: str
    status: JobStatus
    #: A cancel was asked for; a running job stops at its next step.
    cancel_requested: bool
    progress: Progress
    outputs: tuple[Output, ...]
    error: JobErrorInfo | None
    cost_estimate: float | None
    cost_actual: float | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    #: For a queued job: how many queued jobs of its model run before it.
    queue_position: int | None
    #: For a queued job: why it may wait long (no worker serves its model).
    status_message: str | None
    priority: int
    metadata: dict[str, Any]
    input: dict[str, Any]
    origin: Origin | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    #: The job this one runs again (``jobs.retry``), and the latest job that ran this one
    #: again.
    retry_of: str | None = None
    retried_by: str | None = None
    #: For a job queued again after a failed attempt: when it may run again.
    next_attempt_at: datetime | None = None
    #: For a queued or running job read by its id: seconds until it is expected to be done;
    #: None when the server cannot tell (or did not say).
    eta_seconds: float | None = None

    @classmethod
    def from_api(cls, data: Any) -> Job:
        """Read a job object of the native API."""
        try:
            cost = data.get("cost") or {}
            error, origin = data.get("error"), data.get("origin")
            return cls(
                id=str(data["id"]),
                model=str(data["model"]),
                status=JobStatus.parse(data["status"]),
                progress=Progress.from_api(data.get("progress") or {}),
                outputs=tuple(Output.from_api(o) for o in data.get("outputs") or ()),
                error=None if error is None else JobErrorInfo(error["code"], error["message"]),
                cost_estimate=cost.get("estimate"),
                cost_actual=cost.get("actual"),
                created_at=timestamp(data.get("created_at")),
                started_at=timestamp(data.get("started_at")),
                finished_at=timestamp(data.get("finished_at")),
                expires_at=timestamp(data.get("expires_at")),
                queue_position=data.get("queue_position"),
                cancel_requested=bool(data.get("cancel_requested")),
                status_message=data.get("status_message"),
                priority=int(data.get("priority") or 0),
                metadata=dict(data.get("metadata") or {}),
                input=dict(data.get("input") or {}),
                origin=None if origin is None else Origin(origin["api"], origin["model"]),
                raw=data,
                retry_of=data.get("retry_of"),
                retried_by=data.get("retried_by"),
                next_attempt_at=timestamp(data.get("next_attempt_at")),
                eta_seconds=seconds(data.get("eta_seconds")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"cannot read a job from the server's answer: {exc!r}") from None


@dataclass(frozen=True)
class Event:
    """One entry of a job's event stream.

    ``type`` is ``status``, ``progress``, ``log``, ``output`` or ``text``; a type this client
    does not know is passed on as it is. ``data`` is the event's JSON object.
    """

    id: int
    type: str
    job_id: str
    data: dict[str, Any]
    created_at: datetime | None = None

    @property
    def status(self) -> JobStatus | None:
        """The new status, for a ``status`` event."""
        return JobStatus.parse(self.data["status"]) if self.type == "status" else None

    @property
    def progress(self) -> Progress | None:
        """The job's progress, for a ``progress`` event."""
        return Progress.from_api(self.data) if self.type == "progress" else None

    @classmethod
    def from_sse(cls, id: str, type: str, data: Any, job_id: str) -> Event:
        """Read one server-sent event (``data`` already decoded from JSON)."""
        try:
            if not isinstance(data, dict):
                raise TypeError("the data is not a JSON object")
            event = cls(
                id=int(id),
                type=type or str(data.get("type", "")),
                job_id=str(data.get("job_id") or job_id),
                data=data,
                created_at=timestamp(data.get("created_at")),
            )
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"cannot read event {id!r}: {exc}") from None
        if event.type == "status":
            # An unknown (or missing) status word fails here, before anyone waits on it.
            JobStatus.parse(data.get("status"))
        return event


@dataclass(frozen=True)
class ModelInfo:
    """A model the server offers: its input JSON Schema, price and aliases."""

    name: str
    description: str
    modality: str
    input_schema: dict[str, Any]
    #: ``per_job``, ``per_output`` and ``per_second``, in credits.
    price: dict[str, float]
    #: False where the server lacks the model's optional packages (see ``unavailable_reason``).
    available: bool
    aliases: tuple[str, ...]
    unavailable_reason: str | None
    #: What it does, in Hugging Face's task names (``automatic-speech-recognition``, ...);
    #: None when the server does not say.
    task: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> ModelInfo:
        try:
            return cls(
                name=str(data["name"]),
                description=str(data.get("description") or ""),
                modality=str(data.get("modality") or ""),
                input_schema=dict(data.get("input_schema") or {}),
                price=dict(data.get("price") or {}),
                available=bool(data.get("available", True)),
                aliases=tuple(data.get("aliases") or ()),
                unavailable_reason=data.get("unavailable_reason"),
                task=data.get("task") or None,
                raw=data,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"cannot read a model from the server's answer: {exc!r}") from None


@dataclass(frozen=True)
class Webhook:
    """A webhook endpoint of the account: a URL called for its jobs' ``events`` (of every
    model, or of ``models``), each call signed with the endpoint's own secret."""

    id: str
    url: str
    #: ``start``, ``progress``, ``output``, ``completed``.
    events: tuple[str, ...]
    #: The models whose jobs call it; None: every model.
    models: tuple[str, ...] | None
    description: str | None
    #: False once disabled, by its account or by a receiver that answered 410 Gone.
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime | None
    #: The signing secret (``whsec_...``): only in the answer that made it (``create``,
    #: ``rotate_secret``), None in every other.
    secret: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Webhook:
        try:
            models = data.get("models")
            return cls(
                id=str(data["id"]),
                url=str(data["url"]),
                events=tuple(str(event) for event in data.get("events") or ()),
                models=None if models is None else tuple(str(model) for model in models),
                description=data.get("description"),
                enabled=bool(data.get("enabled", True)),
                disabled_at=timestamp(data.get("disabled_at")),
                disabled_reason=data.get("disabled_reason"),
                created_at=timestamp(data.get("created_at")),
                secret=data.get("secret"),
                raw=data,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(
                f"cannot read a webhook endpoint from the server's answer: {exc!r}"
            ) from None


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook call made for a job: to the job's own webhook (``webhook_id`` None) or to
    an endpoint of the account. Its ``id`` is the ``webhook-id`` header the receiver sees."""

    id: str
    job_id: str
    webhook_id: str | None
    #: ``start``, ``progress``, ``output`` or ``completed``.
    event: str
    url: str
    #: ``pending`` (not sent yet, or waiting for a retry), ``delivered`` or ``failed``.
    state: str
    attempts: int
    #: The receiver's HTTP status on the last attempt; None: no answer (or none yet).
    last_status: int | None
    last_error: str | None
    created_at: datetime | None
    #: When a pending call is tried next.
    next_attempt_at: datetime | None
    finished_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> WebhookDelivery:
        try:
            return cls(
                id=str(data["id"]),
                job_id=str(data["job_id"]),
                webhook_id=data.get("webhook_id"),
                event=str(data["event"]),
                url=str(data["url"]),
                state=str(data["state"]),
                attempts=int(data.get("attempts") or 0),
                last_status=data.get("last_status"),
                last_error=data.get("last_error"),
                created_at=timestamp(data.get("created_at")),
                next_attempt_at=timestamp(data.get("next_attempt_at")),
                finished_at=timestamp(data.get("finished_at")),
                raw=data,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(
                f"cannot read a webhook call from the server's answer: {exc!r}"
            ) from None


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time of the API (``...Z``) as an aware datetime."""
    return None if value is None else datetime.fromisoformat(value)


def seconds(value: Any) -> float | None:
    """A number of seconds of the API (null: not known) as a float."""
    return None if value is None else float(value)
