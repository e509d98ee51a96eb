"""The job and its parts, as the server keeps them: plain immutable values with no I/O.

The names differ from the client's (``genq.Job``, ``genq.JobStatus``, ``genq.Output``, ...),
which are what a caller reads back from the API: a ``JobRecord`` is the server's whole row,
storage keys and all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from genq.limits import stored_text


class Status(enum.StrEnum):
    """The closed set of job states.

    ``queued -> running -> succeeded | failed | canceled``, plus ``expired``.
    A terminal status never changes.
    """

    #: Accepted and waiting for a worker.
    QUEUED = "queued"
    #: Claimed by a worker that holds a live lease on it.
    RUNNING = "running"
    #: Finished; its outputs are ready.
    SUCCEEDED = "succeeded"
    #: Finished with an error (see ``JobRecord.error``).
    FAILED = "failed"
    #: Stopped at the caller's request.
    CANCELED = "canceled"
    #: No worker took it by its start deadline (its error: ``start_deadline``).
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self not in (Status.QUEUED, Status.RUNNING)


class EventType(enum.StrEnum):
    """What an event on a job's stream reports."""

    STATUS = "status"
    PROGRESS = "progress"
    LOG = "log"
    OUTPUT = "output"
    #: A piece of generated text, as a text model writes it (``{"delta": "..."}``).
    TEXT = "text"
    #: One value a model streams while it runs, any JSON (``{"value": ...}``): what a
    #: generator handler of another platform yields, say.
    PARTIAL = "partial"


class WebhookEvent(enum.StrEnum):
    """What a job's webhook is called for."""

    #: A worker took the job (again, after a lost worker).
    START = "start"
    #: The job reported progress. At most one such call waits per job, and it carries the job
    #: as it is when sent: the latest progress, not every step.
    PROGRESS = "progress"
    #: The job has its outputs (when it succeeds with any).
    OUTPUT = "output"
    #: The job ended: succeeded, failed, canceled or expired.
    COMPLETED = "completed"


#: What a job's webhook is called for unless its submit says otherwise.
DEFAULT_WEBHOOK_EVENTS = (WebhookEvent.COMPLETED,)


class DeliveryState(enum.StrEnum):
    """Where one call of a webhook stands."""

    #: Not sent yet, being sent, or waiting for its next attempt.
    PENDING = "pending"
    #: The receiver answered 2xx.
    DELIVERED = "delivered"
    #: Given up: a 4xx other than 429, a refused address, or retries spent.
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryRecord:
    """One call of a webhook for a job: one event, sent until it is delivered or given up,
    always with ``id`` as its ``webhook-id`` so that the receiver can drop repeats. The
    webhook is the job's own (``endpoint_id`` None) or an endpoint of its account."""

    id: str
    job_id: str
    account_id: str
    event: WebhookEvent
    url: str
    state: DeliveryState
    attempts: int
    created_at: float
    #: When it is due; while an attempt is under way, when that attempt's hold lapses.
    next_at: float
    #: The receiver's HTTP status on the last attempt; None: no answer (or none yet).
    last_status: int | None = None
    last_error: str | None = None
    finished_at: float | None = None
    #: The account's endpoint it calls; None: the job's own webhook.
    endpoint_id: str | None = None
    #: When its retry window started: ``created_at``, or its last redelivery.
    retry_from: float | None = None

    @property
    def window_start(self) -> float:
        return self.created_at if self.retry_from is None else self.retry_from


@dataclass(frozen=True)
class WebhookEndpoint:
    """A URL an account registered, called for its jobs' ``events`` (of every model, or of
    ``models``), signed with a secret of its own."""

    id: str
    account_id: str
    url: str
    events: tuple[WebhookEvent, ...]
    #: The models whose jobs call it; None: every model.
    models: tuple[str, ...] | None
    description: str | None
    secret: str
    created_at: float
    #: The secret before the last rotation, which signs too until ``previous_until``.
    previous_secret: str | None = None
    previous_until: float | None = None
    #: When it was disabled (by its account, or by a receiver's 410 Gone); None: enabled.
    disabled_at: float | None = None
    disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def signing_secrets(self, now: float) -> tuple[str, ...]:
        """The secrets a call made at ``now`` is signed with: the current one, and the one
        before it for a while after a rotation (receivers verify with either)."""
        if self.previous_secret is not None and (self.previous_until or 0) > now:
            return (self.secret, self.previous_secret)
        return (self.secret,)


@dataclass(frozen=True)
class ProgressRecord:
    step: int = 0
    total: int = 0
    message: str | None = None

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 0.0
        return min(1.0, self.step / self.total)


@dataclass(frozen=True)
class OutputRecord:
    """One result file. ``key`` names it in the file storage; links are made on read."""

    key: str
    content_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    #: Storage key of a JPEG of a video's first frame.
    thumbnail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputRecord:
        return cls(**data)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str

    def __post_init__(self) -> None:
        # Messages often quote what failed: whatever a model raises must stay storable.
        object.__setattr__(self, "message", stored_text(self.message))


@dataclass(frozen=True)
class OriginRecord:
    """Where a job came from, for a job submitted through a vendor dialect or by an alias."""

    #: The surface that created it: ``native``, or the name a dialect gives its jobs (its own
    #: name, or one per endpoint where each endpoint sees only its own jobs).
    api: str
    #: The model name the caller used: an alias, or the model's own name.
    model: str
    #: What the dialect keeps to answer in its own terms (the request as it normalized it).
    request: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRecord:
    id: str
    account_id: str
    model: str
    input: dict[str, Any]
    status: Status
    priority: int
    created_at: float
    expires_at: float
    #: Credits, exact (see ``genq.credits``).
    cost_estimate: Decimal
    metadata: dict[str, Any] = field(default_factory=dict)
    progress: ProgressRecord = ProgressRecord()
    outputs: tuple[OutputRecord, ...] = ()
    error: Failure | None = None
    cost_actual: Decimal | None = None
    started_at: float | None = None
    finished_at: float | None = None
    inference_time: float | None = None
    #: How long its worker spent loading the model before running it; None: it was loaded.
    load_time: float | None = None
    attempts: int = 0
    cancel_requested: bool = False
    #: Jobs of one model with the same key may run together in one model call.
    batch_key: str | None = None
    origin: OriginRecord | None = None
    #: The URL called on ``webhook_events``; None: no webhook (and no deliveries to show).
    webhook: str | None = None
    webhook_events: tuple[WebhookEvent, ...] = ()
    #: When it must have started by, or it expires (``time.time()``); None: no deadline.
    start_deadline: float | None = None
    #: How long it may run; None: the model's limit, if any.
    timeout_seconds: float | None = None
    #: The job this one runs again, and the job that ran this one again.
    retry_of: str | None = None
    retried_by: str | None = None
    #: After an automatic retry, when it may be taken again.
    run_after: float | None = None
    #: The bytes its outputs hold.
    output_bytes: int = 0
    #: The worker time its account was charged when it was taken (fair scheduling).
    fair_charge: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def queue_time(self) -> float | None:
        if self.started_at is None:
            return None
        return self.started_at - self.created_at


@dataclass(frozen=True)
class EventRecord:
    """One entry of a job's event stream; ``id`` increases across all jobs."""

    id: int
    job_id: str
    type: EventType
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class Claim:
    """A job handed to a worker, with the attempt number that fences its writes."""

    job: JobRecord
    worker_id: str
    attempt: int


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    #: The balance in credits, exact; None: no limit.
    credits: Decimal | None
    created_at: float
    #: An admin account's keys manage every account and key (the console's admin pages).
    admin: bool = False
    #: Its share of worker time against other accounts' (fair scheduling).
    weight: float = 1.0
    #: Its limits; None where the configured default applies.
    limits: AccountLimits = field(default_factory=lambda: AccountLimits())


@dataclass(frozen=True)
class AccountLimits:
    """An account's own limits, each None where the configured default applies and 0 for no
    limit at all."""

    #: Its jobs running at once.
    max_running: int | None = None
    #: Its jobs queued at once.
    max_queued: int | None = None
    #: Requests per second per key, and how many may come at once above that rate.
    rate_per_second: float | None = None
    rate_burst: int | None = None
    #: Bytes its jobs' stored outputs may hold.
    storage_quota_bytes: int | None = None


@dataclass(frozen=True)
class ApiKey:
    id: str
    account_id: str
    account_name: str
    name: str | None
    prefix: str
    disabled: bool
    created_at: float
    #: Recorded at most once a minute: this late or less.
    last_used_at: float | None = None
    #: Its SHA-256 (``genq.keys.hash_key``), by which the store and the key cache know it.
    key_hash: str = field(default="", repr=False)
    #: Its account's limits, read with the key when it is looked up by its hash (to
    #: authenticate a request); None where the key was read otherwise (listed, changed).
    limits: AccountLimits | None = None
