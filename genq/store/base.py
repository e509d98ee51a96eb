"""The job store interface: the one durable source of truth for jobs, events, accounts and keys.

Every method is one short transaction. One implementation (``genq.store.core``) runs on SQLite
(embedded) or PostgreSQL (scaled out). Writes by a worker are fenced by its ``Claim``: a worker
whose lease was taken away cannot change the job.

Opening a store checks the database's schema version: an empty database is set up, one with an
older or newer schema is refused unless the store is opened with ``migrate=True`` (``genq
migrate``), which brings an older one up to date.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from genq.account_limits import AccountUsage
from genq.jobs import (
    Account,
    ApiKey,
    Claim,
    DeliveryRecord,
    DeliveryState,
    EventRecord,
    EventType,
    Failure,
    JobRecord,
    OriginRecord,
    OutputRecord,
    ProgressRecord,
    WebhookEndpoint,
    WebhookEvent,
)
from genq.notify import Topic

if TYPE_CHECKING:
    from genq.store.estimates import Ahead, Level


@dataclass(frozen=True)
class Scheduling:
    """How a claim picks (``genq.store.fair``): the aging step in seconds (0: no aging),
    each account's cap of running jobs where it has none of its own (None or 0: none), the
    worker seconds taking a job charges its account until it ends, and how far behind the
    others (in worker seconds) an idle account may come back."""

    aging_seconds: float = 300.0
    max_running_default: int | None = None
    charge: float = 1.0
    credit_seconds: float = 30.0


@dataclass(frozen=True)
class NewJob:
    """What the service hands the store to create a job."""

    id: str
    account_id: str
    model: str
    input: dict[str, Any]
    priority: int
    metadata: dict[str, Any]
    cost_estimate: Decimal
    created_at: float
    expires_at: float
    idempotency_key: str | None = None
    fingerprint: str | None = None
    #: Jobs of one model with the same key may run in one model call (see ``Model.batch_key``).
    batch_key: str | None = None
    origin: OriginRecord | None = None
    webhook: str | None = None
    webhook_events: tuple[WebhookEvent, ...] = ()
    #: The job this one runs again (``POST /v1/jobs/{id}/retry``): the two are linked.
    retry_of: str | None = None
    #: When it must have started by (``time.time()``), or it expires; None: no deadline.
    start_deadline: float | None = None
    #: How long it may run once started; None: no limit.
    timeout_seconds: float | None = None
    #: The account's cap on queued jobs where it has none of its own (the configured
    #: ``max_queued_per_account``); None or 0: none.
    max_queued_default: int | None = None
    #: The account's stored bytes and its quota, when they refuse a new job: the store
    #: answers 403 ``quota_exceeded`` unless the submit replays a job it made already.
    over_quota: tuple[int, int] | None = None


@dataclass(frozen=True)
class JobFilter:
    """Which of an account's jobs a listing takes; None or empty: any."""

    statuses: tuple[str, ...] = ()
    model: str | None = None
    origin_api: str | None = None
    origin_model: str | None = None
    #: Only jobs run more than once: an attempt after a failed one or a lost worker, or a
    #: retry of an earlier job.
    retried: bool = False


@dataclass(frozen=True)
class Submitted:
    job: JobRecord
    #: False when an idempotent replay returned the original job.
    created: bool


@dataclass(frozen=True)
class Retired:
    """What a retention sweep did: jobs removed (their files must go too), and running jobs
    newly asked to stop (their workers must be told)."""

    removed: tuple[JobRecord, ...]
    stopping: tuple[str, ...]


@dataclass(frozen=True)
class Released:
    """Jobs taken back from a lost worker: requeued, or failed after too many attempts."""

    requeued: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class AccountSummary:
    """An account as an admin sees it in a list."""

    account: Account
    #: What its unfinished jobs hold: their estimates, as a submit's balance check sums them.
    held: Decimal
    keys: int


@dataclass(frozen=True)
class Usage:
    """An account's jobs of one model created on one UTC day."""

    model: str
    #: Days since 1970-01-01, UTC.
    day: int
    jobs: int
    #: Their actual costs; 0 for those not charged (yet).
    spent: Decimal


#: A worker not seen for this long is forgotten (its jobs were taken back long before).
FORGET_WORKER_SECONDS = 3600.0


class JobStore(abc.ABC):
    #: True when calls wait on the network; the async service then runs them in a thread.
    blocking: bool = False
    #: ``(from, to)`` schema versions when opening the store migrated it.
    migrated: tuple[int, int] | None = None
    #: The database URL the store was opened with.
    url: str

    # -- accounts and keys -------------------------------------------------------------
    @abc.abstractmethod
    def ensure_account(
        self, name: str, credits: Decimal | None, now: float, *, admin: bool = False
    ) -> Account:
        """Return the account called ``name``, creating it (with ``credits``) if new; with
        ``admin``, it is an admin account, new or not."""

    @abc.abstractmethod
    def create_account(
        self, name: str, credits: Decimal | None, now: float, *, admin: bool = False
    ) -> Account | None:
        """A new account; None when the name is taken."""

    @abc.abstractmethod
    def get_account(self, account_id: str) -> Account | None: ...

    @abc.abstractmethod
    def find_account(self, name: str) -> Account | None: ...

    @abc.abstractmethod
    def list_accounts(self) -> list[AccountSummary]:
        """Every account, by name."""

    @abc.abstractmethod
    def held(self, account_id: str) -> Decimal:
        """What the account's unfinished jobs hold (their estimates)."""

    @abc.abstractmethod
    def add_credits(self, account_id: str, amount: Decimal) -> Account | None:
        """Raise the account's balance by ``amount``; None when no account has that id.

        Raises ``Clash`` (``unlimited_account``) for an account without a limit, and
        ``ValidationFailed`` when the balance would pass the most it can hold."""

    @abc.abstractmethod
    def usage(self, account_id: str, since: float) -> list[Usage]:
        """The account's jobs created at or after ``since``, by model and UTC day."""

    @abc.abstractmethod
    def set_account_limits(
        self, account_id: str, changes: dict[str, int | float | None]
    ) -> Account | None:
        """Set the account's ``weight`` (None: the default) or limits (names of
        ``genq.account_limits.LIMIT_NAMES``; None: the configured default, 0: none); None
        when no account has that id."""

    @abc.abstractmethod
    def account_usage(self, account_id: str, now: float) -> AccountUsage:
        """What the account's limits count: its jobs queued and running, its live jobs'
        stored output bytes."""

    @abc.abstractmethod
    def accounts_usage(self, now: float) -> dict[str, AccountUsage]:
        """``account_usage`` of every account that has live jobs, by account id."""

    @abc.abstractmethod
    def stored_bytes(self, account_id: str, now: float) -> int:
        """The bytes the outputs of the account's live jobs hold."""

    @abc.abstractmethod
    def create_key(
        self, key_id: str, account_id: str, name: str | None, key_hash: str, prefix: str, now: float
    ) -> ApiKey: ...

    @abc.abstractmethod
    def list_keys(self, account_id: str | None = None) -> list[ApiKey]:
        """The keys of one account, or of every account, oldest first."""

    @abc.abstractmethod
    def set_key_disabled(
        self, key_id: str, disabled: bool, *, account_id: str | None = None
    ) -> ApiKey | None:
        """The key, changed; None when no key has that id (of that account, if given)."""

    @abc.abstractmethod
    def delete_key(self, key_id: str, *, account_id: str | None = None) -> ApiKey | None:
        """The key, deleted; None when no key has that id (of that account, if given)."""

    @abc.abstractmethod
    def touch_key(self, key_id: str, now: float, every: float) -> None:
        """Record that the key was used at ``now``, unless that was recorded within
        ``every`` seconds."""

    @abc.abstractmethod
    def find_key(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, disabled or not."""

    @abc.abstractmethod
    def create_sign_in(
        self, token_hash: str, account_id: str, now: float, expires_at: float
    ) -> None:
        """Keep a one-time sign-in token's hash until it expires."""

    @abc.abstractmethod
    def take_sign_in(self, token_hash: str, now: float) -> str | None:
        """The account id of an unused, unexpired sign-in token, which is used up: a token is
        taken once, however many take it at once. None for any other token."""

    # -- webhooks ---------------------------------------------------------------------
    @abc.abstractmethod
    def webhook_secret(self, account_id: str, made: str, now: float) -> str:
        """The account's default webhook signing secret; ``made`` becomes it if it has none."""

    @abc.abstractmethod
    def add_endpoint(self, endpoint: WebhookEndpoint, most: int) -> bool:
        """Register an endpoint; False when its account has ``most`` already, or one with its
        id was registered meanwhile."""

    @abc.abstractmethod
    def endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        """The account's endpoints, oldest first."""

    @abc.abstractmethod
    def get_endpoint(self, endpoint_id: str, account_id: str | None) -> WebhookEndpoint | None:
        """One endpoint of the account (None: of any account)."""

    @abc.abstractmethod
    def delete_endpoint(self, endpoint_id: str, account_id: str, now: float) -> bool:
        """Delete an endpoint of the account; its pending calls fail. False: no such one."""

    @abc.abstractmethod
    def disable_endpoint(
        self, endpoint_id: str, account_id: str | None, now: float, reason: str
    ) -> WebhookEndpoint | None:
        """Disable an endpoint (of any account with None), for ``reason``: it is called for no
        new change, and its pending calls fail."""

    @abc.abstractmethod
    def enable_endpoint(self, endpoint_id: str, account_id: str) -> WebhookEndpoint | None:
        """Enable an endpoint again, for the changes from now on."""

    @abc.abstractmethod
    def rotate_endpoint_secret(
        self, endpoint_id: str, account_id: str, secret: str, now: float, previous_until: float
    ) -> WebhookEndpoint | None:
        """Give an endpoint a new secret; the one it had signs too until ``previous_until``,
        unless one from before an earlier rotation still signs at ``now``: that one stays."""

    @abc.abstractmethod
    def list_deliveries(
        self,
        account_id: str,
        *,
        job_id: str | None = None,
        endpoint_id: str | None = None,
        state: DeliveryState | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        """The account's webhook calls, newest first, of one job or endpoint or in one state;
        with ``before`` (a call's ``created_at`` and ``id``), those listed after that one."""

    @abc.abstractmethod
    def get_delivery(self, delivery_id: str, account_id: str) -> DeliveryRecord | None:
        """One webhook call for the account's jobs."""

    @abc.abstractmethod
    async def has_calls(self, account_id: str) -> bool:
        """Whether any webhook call was made for the account's jobs, from the event loop."""

    @abc.abstractmethod
    def endpoint_had_calls(self, endpoint_id: str) -> bool:
        """Whether any webhook call was made for the endpoint (deleted or not)."""

    @abc.abstractmethod
    def redeliver(self, delivery_id: str, account_id: str, now: float) -> DeliveryRecord | None:
        """Send a delivered or failed call again, due now with a new retry window, keeping
        its ``webhook-id``. The call as it was when it is pending (unchanged); None when the
        account has no such call."""

    @abc.abstractmethod
    def deliveries(self, job_id: str) -> list[DeliveryRecord]:
        """The webhook calls for the job, oldest first."""

    @abc.abstractmethod
    async def read_deliveries(self, job_id: str) -> list[DeliveryRecord]:
        """``deliveries``, from the event loop."""

    @abc.abstractmethod
    def take_deliveries(
        self, now: float, hold_until: float, limit: int, *, per_url: int
    ) -> list[DeliveryRecord]:
        """Take up to ``limit`` pending deliveries due at ``now``, oldest due first and at
        most ``per_url`` to one URL, for one attempt each: until ``hold_until`` no other call
        takes them. An attempt that is never settled (its process died) is taken again once
        its hold lapses."""

    @abc.abstractmethod
    def settle_delivery(
        self,
        taken: DeliveryRecord,
        state: DeliveryState,
        now: float,
        *,
        status: int | None,
        error: str | None,
        next_at: float | None = None,
    ) -> bool:
        """Record one attempt of a taken delivery: delivered, failed, or (``PENDING``) due
        again at ``next_at``. False when it was settled meanwhile (its hold lapsed and
        another attempt settled it)."""

    @abc.abstractmethod
    def put_back(self, taken: Sequence[DeliveryRecord], next_at: float) -> None:
        """Release taken deliveries unattempted, due again at ``next_at``."""

    # -- the reads of a polling client, from the event loop ------------------------------
    # What the API reads on every poll, as coroutines: on PostgreSQL each is a round trip on
    # a connection of the event loop's own, not a hop to a thread and back.
    @abc.abstractmethod
    async def read_key(self, key_hash: str) -> ApiKey | None:
        """``find_key``."""

    @abc.abstractmethod
    async def read_job(self, account_id: str, job_id: str, now: float) -> JobRecord | None:
        """``get_job``."""

    @abc.abstractmethod
    async def read_events(self, job_id: str, after_id: int) -> list[EventRecord]:
        """``events_after``."""

    @abc.abstractmethod
    async def read_jobs(
        self,
        account_id: str,
        now: float,
        *,
        limit: int,
        before_seq: int | None = None,
        offset: int = 0,
        where: JobFilter = JobFilter(),
    ) -> list[tuple[int, JobRecord]]:
        """``list_jobs``."""

    @abc.abstractmethod
    async def read_count(self, account_id: str, now: float, where: JobFilter = JobFilter()) -> int:
        """``count_jobs``."""

    async def close_reads(self) -> None:  # noqa: B027 - optional hook
        """Release the connections the reads above opened, from the loop they ran on."""

    # -- the API side ------------------------------------------------------------------
    @abc.abstractmethod
    def submit(self, new: NewJob) -> Submitted:
        """Insert a queued job (and its first event), or replay an idempotent submit.

        Raises ``Clash`` when the idempotency key was used with another fingerprint,
        ``OutOfCredits`` when the estimate exceeds the account's balance, and
        ``TooManyRequests`` (``too_many_queued``) when the account has its cap of queued jobs
        (its own, or ``new.max_queued_default``).
        """

    @abc.abstractmethod
    def submit_many(self, news: Sequence[NewJob]) -> list[JobRecord]:
        """Insert queued jobs (without idempotency keys) in one transaction, all or none:
        ``OutOfCredits`` when together they exceed the account's balance,
        ``TooManyRequests`` when they would pass its cap of queued jobs."""

    @abc.abstractmethod
    def get_job(self, account_id: str, job_id: str, now: float) -> JobRecord | None:
        """The job, unless it belongs to someone else or its retention has ended."""

    @abc.abstractmethod
    def get_job_any_account(self, job_id: str, now: float) -> JobRecord | None:
        """The job whoever owns it, for checks behind a signed file link."""

    @abc.abstractmethod
    def list_jobs(
        self,
        account_id: str,
        now: float,
        *,
        limit: int,
        before_seq: int | None = None,
        offset: int = 0,
        where: JobFilter = JobFilter(),
    ) -> list[tuple[int, JobRecord]]:
        """Newest first, with each job's ``seq`` for the keyset cursor."""

    @abc.abstractmethod
    def count_jobs(self, account_id: str, now: float, where: JobFilter = JobFilter()) -> int:
        """How many of the account's live jobs ``list_jobs`` can list with this filter."""

    @abc.abstractmethod
    def request_cancel(
        self, account_id: str, job_id: str, now: float, *, queued_only: bool = False
    ) -> JobRecord | None:
        """Cancel a queued job at once, flag a running one (unless ``queued_only``: it is left
        to run); terminal jobs are left as they are."""

    @abc.abstractmethod
    def delete_job(self, account_id: str, job_id: str, now: float) -> JobRecord | None:
        """Delete the job and its events; returns it so that its files can be removed."""

    @abc.abstractmethod
    def events_after(self, job_id: str, after_id: int, limit: int = 500) -> list[EventRecord]: ...

    @abc.abstractmethod
    def take_stream(
        self, account_id: str, job_id: str, now: float, *, limit: int, max_bytes: int
    ) -> list[EventRecord] | None:
        """The job's streamed pieces (``text`` and ``partial`` events) that no take handed out
        before, oldest first: at most ``limit`` of them, holding at most ``max_bytes`` as JSON
        (at least one), now marked taken (``genq.store.streams``). None: no such live job."""

    @abc.abstractmethod
    def queue_position(self, job: JobRecord) -> int:
        """How many queued jobs of the same model run before this one."""

    @abc.abstractmethod
    def queue_depths(self) -> dict[str, tuple[int, float]]:
        """Per model with queued jobs: how many, and when the oldest was created."""

    # -- the worker side ---------------------------------------------------------------
    @abc.abstractmethod
    def claim(
        self,
        worker_id: str,
        models: Sequence[str],
        now: float,
        lease_seconds: float,
        limit: int = 1,
        batch_key: str | None = None,
        scheduling: Scheduling = Scheduling(),
    ) -> list[Claim]:
        """Atomically take up to ``limit`` queued jobs that may run now: highest priority
        first (aging lifts long waits), then each account's fair share of worker time, then
        oldest (``genq.store.fair``); no account past its cap of running jobs.

        With ``batch_key``, only jobs of ``models[0]`` that carry that key: the companions of a
        job already claimed, to run in the same model call."""

    @abc.abstractmethod
    def heartbeat(self, claims: Sequence[Claim], now: float, lease_seconds: float) -> set[str]:
        """Renew the leases; returns ids of jobs to stop (cancel requested or lease lost)."""

    @abc.abstractmethod
    def set_progress(self, claim: Claim, progress: ProgressRecord, now: float) -> bool: ...

    @abc.abstractmethod
    def add_event(
        self, claim: Claim, type: EventType, data: dict[str, Any], now: float
    ) -> bool: ...

    @abc.abstractmethod
    def finish(
        self,
        claim: Claim,
        now: float,
        *,
        outputs: Sequence[OutputRecord] = (),
        error: Failure | None = None,
        canceled: bool = False,
        cost_actual: Decimal | None = None,
        inference_time: float | None = None,
        load_time: float | None = None,
    ) -> JobRecord | None:
        """Make the job terminal (and charge a success); None when the lease was lost.
        ``load_time``: the seconds the worker spent loading the model for it (None: it had
        the model loaded already)."""

    @abc.abstractmethod
    def retry_later(
        self, claim: Claim, now: float, *, run_after: float, event: dict[str, Any]
    ) -> JobRecord | None:
        """Put a job whose attempt failed back in the queue, not to be taken before
        ``run_after``, with ``event`` as its ``status`` event (``genq.retries``); fenced by
        the claim. None when the lease was lost or a cancel was asked for: the job then ends
        as usual (``finish``)."""

    @abc.abstractmethod
    def next_run_after(self, models: Sequence[str], now: float) -> float | None:
        """The earliest time after ``now`` when a queued job of ``models`` waiting for its
        retry may be taken; None: none waits."""

    # -- workers -----------------------------------------------------------------------
    @abc.abstractmethod
    def register_worker(
        self, worker_id: str, models: Sequence[str], host: str, pid: int, now: float
    ) -> None:
        """Record (or refresh) a live worker and the models it serves."""

    @abc.abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abc.abstractmethod
    def served_models(self, since: float) -> set[str]:
        """The models served by workers seen at or after ``since``."""

    @abc.abstractmethod
    def workers_per_model(self, since: float) -> dict[str, int]:
        """How many workers seen at or after ``since`` serve each model."""

    @abc.abstractmethod
    async def read_model_workers(self, model: str, since: float) -> tuple[int, int]:
        """The workers seen at or after ``since`` that serve ``model``, and how many of them
        run a job now (of any model)."""

    # -- estimates (``genq.store.estimates``), from the event loop -------------------------
    @abc.abstractmethod
    async def ahead_of(self, job: JobRecord, level: Level) -> Ahead:
        """What a queued job waits for under fair shares, with the queue at its priority."""

    @abc.abstractmethod
    async def queue_at(self, model: str, priority: int) -> Level:
        """A model's queued jobs above a priority, and each account's at it."""

    @abc.abstractmethod
    async def recent_run_seconds(self, model: str) -> float | None:
        """How long the model's latest successful jobs held their workers, on average; None:
        none finished yet."""

    # -- recovery and housekeeping -----------------------------------------------------
    @abc.abstractmethod
    def release_worker(self, worker_id: str, now: float, max_attempts: int) -> Released:
        """Take back the running jobs of a worker known to be dead, and forget the worker."""

    @abc.abstractmethod
    def release_lapsed(self, now: float, max_attempts: int) -> Released:
        """Take back running jobs whose lease has lapsed; forget long-silent workers."""

    @abc.abstractmethod
    def cancel_running(self, job_id: str, now: float) -> JobRecord | None:
        """End a running job as canceled after its worker was killed for not stopping."""

    @abc.abstractmethod
    def expire(self, now: float) -> Retired:
        """Remove jobs whose retention has ended; ask running ones to stop first."""

    # -- time limits (``genq.deadlines``) ---------------------------------------------------
    @abc.abstractmethod
    def next_start_deadline(self) -> float | None:
        """The earliest start deadline of a queued job; None: no queued job has one."""

    @abc.abstractmethod
    def expire_start_deadlines(self, now: float) -> list[JobRecord]:
        """End every queued job whose start deadline is at or before ``now``: ``expired``,
        charged nothing, its error saying why. Returns them (each to one of several callers
        at once)."""

    @abc.abstractmethod
    def time_out(self, job_id: str, now: float) -> JobRecord | None:
        """End a running job past its timeout (``started_at + timeout_seconds <= now``) as
        ``failed`` with code ``timeout``, charged nothing: its worker did not stop it and is
        being killed. None when the job is not running past its timeout (it ended meanwhile,
        or runs again with a clock of its own)."""

    @abc.abstractmethod
    def on_change(self, announce: Callable[[Topic, str], None] | None) -> None:
        """Have ``announce(topic, payload)`` told of every change this store makes, once it is
        committed, from the thread that made it (so it must be thread-safe): ``QUEUED`` with
        the model after a submit or a requeue, ``JOB`` with the id after any change of a job,
        ``CANCEL`` with the id when a running job is asked to stop (or deleted). Where the
        database carries announcements to every process itself (PostgreSQL: NOTIFY, heard by
        ``genq.notify.postgres.PostgresNotifier``), ``announce`` is never called. None: stop.
        """

    @abc.abstractmethod
    def ping(self) -> None:
        """Answer one trivial query, or raise (``StoreUnavailable`` when the database is out
        of reach): whether the store can serve at all, for readiness probes."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections."""
