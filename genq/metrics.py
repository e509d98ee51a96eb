"""genq's figures, in the Prometheus conventions (``genq_`` names, ``_total`` counters,
seconds, labels from bounded sets: model names come from the configuration, statuses and API
names from genq's own lists; never a job's or an account's id).

They live in the API process. Worker processes do not keep figures of their own: each sends
what it saw (``Observation``) with the messages it already sends its supervisor (``Done``,
``Idle``), which adds them here. A worker killed with SIGKILL loses at most what it saw since
its last message, and its replacement starts from nothing without resetting a total: the
totals are the supervisor's. prometheus-client's multiprocess mode would keep a file per
worker process instead: a dead worker's gauges must then be marked dead by whoever noticed,
files of processes long gone pile up until the next start, and every increment in the API
process would become a write to a shared memory map.

Each process serves its own figures: on PostgreSQL with several API processes, scrape each
(and sum in the queries); the workers of a ``genq worker`` machine report to its own
supervisor, which serves them with ``--metrics-port`` (``genq.worker.exporter``). A process
serves only the families it can see (``served``), so that the sums count each event once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from genq.errors import RequestRateExceeded, StoreUnavailable
from genq.jobs import JobRecord, Status

#: What a worker saw: a figure's name (a key of ``OBSERVED``), its labels, and a value.
Observation = tuple[str, tuple[str, ...], float]

REGISTRY = CollectorRegistry(auto_describe=True)

#: For times from milliseconds (a noop job) to hours (a long video).
TIME_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
)
LOAD_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
#: For HTTP answers: a status read takes a fraction of a millisecond, a followed job's stream
#: as long as the job.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)

SUBMITTED = Counter(
    "genq_jobs_submitted",
    "Jobs queued, by model and the API they came through (native or a dialect's name).",
    ["model", "api"],
    registry=REGISTRY,
)
FINISHED = Counter(
    "genq_jobs_finished",
    "Jobs that ended, by model and status (succeeded, failed, canceled).",
    ["model", "status"],
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "genq_job_queue_wait_seconds",
    "From a job's creation to the start of its last attempt, observed when it ends.",
    ["model"],
    buckets=TIME_BUCKETS,
    registry=REGISTRY,
)
RUN_TIME = Histogram(
    "genq_job_run_seconds",
    "From the start of a job's last attempt to its end, observed when it ends.",
    ["model"],
    buckets=TIME_BUCKETS,
    registry=REGISTRY,
)
CREDITS = Counter(
    "genq_credits_charged",
    "Credits charged for jobs that ended, by model.",
    ["model"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "genq_batch_size",
    "Jobs per model call.",
    ["model"],
    buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)
LOAD_TIME = Histogram(
    "genq_model_load_seconds",
    "Time a worker took to load a model (set it up) before a job could use it.",
    ["model"],
    buckets=LOAD_BUCKETS,
    registry=REGISTRY,
)
LOADS = Counter(
    "genq_model_loads",
    "Model loads by a worker, by model and outcome (ok, failed).",
    ["model", "outcome"],
    registry=REGISTRY,
)
EVICTIONS = Counter(
    "genq_model_evictions",
    "Models a worker unloaded to make room for another.",
    ["model"],
    registry=REGISTRY,
)
BUSY = Counter(
    "genq_worker_busy_seconds",
    "Seconds workers spent running model calls: its rate over the number of workers is "
    "their busy fraction.",
    registry=REGISTRY,
)
IDLE_GAP = Histogram(
    "genq_worker_idle_gap_seconds",
    "A worker's time between the end of one model call and the start of its next.",
    buckets=TIME_BUCKETS,
    registry=REGISTRY,
)

HTTP_REQUESTS = Counter(
    "genq_http_requests",
    "HTTP requests answered, by method, route template ((none) when no route took the path) "
    "and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "genq_http_request_duration_seconds",
    "From a request's arrival to the end of its answer (a stream's last event), by method "
    "and route template.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "genq_store_errors",
    "Store calls that failed (the database could not be reached), by where: request (answered "
    "503), claim (a worker's claim, retried), finish (a job's end, retried), event (progress, "
    "text or a log line, dropped).",
    ["kind"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "genq_rate_limited",
    "Requests refused with 429 rate_limited: their key had used up its rate limit.",
    registry=REGISTRY,
)
REFERENCE_REFUSALS = Counter(
    "genq_reference_refusals",
    "Reference inputs a worker refused to use, by reason: too_large, too_many_pixels, "
    "too_long (a sound), private_address, bad_type, malformed, fetch_failed (no answer, an "
    "error status, too many redirects).",
    ["reason"],
    registry=REGISTRY,
)
RETRIED = Counter(
    "genq_jobs_retried",
    "Jobs queued again after a failed attempt (a model's automatic retries), by model and the "
    "attempt's error code.",
    ["model", "code"],
    registry=REGISTRY,
)
STORAGE_FULL = Counter(
    "genq_storage_full",
    "Submits refused (503 storage_full) because the disk that takes outputs was nearly full.",
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "genq_webhook_attempts",
    "Webhook call attempts by outcome: delivered (a 2xx), retried (a 5xx, 429, timeout or "
    "connection error, tried again later), failed (given up: another status, a refused "
    "address, the retry window spent, or its endpoint gone).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "genq_webhook_attempt_seconds",
    "How long one webhook call took to be answered (or to fail).",
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "genq_webhook_delivery_latency_seconds",
    "From the change that made a webhook call due (or its redelivery) to its delivery, "
    "retries included.",
    buckets=TIME_BUCKETS,
    registry=REGISTRY,
)

#: The methods counted by name; any other is ``other``, as a client may send any token.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route of a request no route took (a 404, a redirect to the path with a slash).
NO_ROUTE = "(none)"


class Requests:
    """The HTTP figures of answered requests. The labelled children are bound once per method,
    route and status and kept here: a request costs a dict lookup, an increment and an
    observation (prometheus-client's ``labels()`` checks and joins its labels every call)."""

    def __init__(self) -> None:
        self._bound: dict[tuple[str, str | None, int], tuple[Counter, Histogram]] = {}

    def answered(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count a request that ``route`` (its path template; None: no route) answered with
        ``status`` in ``seconds``."""
        bound = self._bound.get((method, route, status))
        if bound is None:
            bound = self._bind(method, route, status)
        count, duration = bound
        count.inc()
        duration.observe(seconds)

    def _bind(self, method: str, route: str | None, status: int) -> tuple[Counter, Histogram]:
        known = method in HTTP_METHODS
        label = method if known else "other"
        template = NO_ROUTE if route is None else route
        bound = (
            HTTP_REQUESTS.labels(label, template, str(status)),
            HTTP_DURATION.labels(label, template),
        )
        # An unknown method is not kept under its own name: those are the client's to choose.
        if known:
            self._bound[(method, route, status)] = bound
        return bound


#: What each observation a worker sends adds to.
OBSERVED: dict[str, Callable[[tuple[str, ...], float], None]] = {
    "finished": lambda labels, _: FINISHED.labels(*labels).inc(),
    "queue_wait": lambda labels, value: QUEUE_WAIT.labels(*labels).observe(value),
    "run": lambda labels, value: RUN_TIME.labels(*labels).observe(value),
    "credits": lambda labels, value: CREDITS.labels(*labels).inc(value),
    "batch": lambda labels, value: BATCH_SIZE.labels(*labels).observe(value),
    "load": lambda labels, value: LOAD_TIME.labels(*labels).observe(value),
    "loaded": lambda labels, _: LOADS.labels(*labels).inc(),
    "evicted": lambda labels, _: EVICTIONS.labels(*labels).inc(),
    "busy": lambda _, value: BUSY.inc(value),
    "idle_gap": lambda _, value: IDLE_GAP.observe(value),
    "store_error": lambda labels, _: STORE_ERRORS.labels(*labels).inc(),
    "reference_refused": lambda labels, _: REFERENCE_REFUSALS.labels(*labels).inc(),
    "retried": lambda labels, _: RETRIED.labels(*labels).inc(),
}


def reference_refused(reason: str) -> Observation:
    """What a worker tells of a reference it refused, and why (``RefusalKind``)."""
    return ("reference_refused", (reason,), 1)


def store_error(kind: str) -> Observation:
    """What a worker tells of a store call of ``kind`` (claim, finish, event) that failed."""
    return ("store_error", (kind,), 1)


def answered_error(exc: Exception) -> None:
    """Count the error an HTTP request is answered with, if the figures count it: a store
    failure (``StoreUnavailable``, 503), a rate limit's refusal (``RequestRateExceeded``, 429)."""
    if isinstance(exc, StoreUnavailable):
        STORE_ERRORS.labels("request").inc()
    elif isinstance(exc, RequestRateExceeded):
        RATE_LIMITED.inc()


def ended(job: JobRecord) -> list[Observation]:
    """What the end of ``job`` adds: its count, wait and run times, and its charge."""
    if not job.terminal:
        return []
    model = (job.model,)
    seen: list[Observation] = [("finished", (job.model, job.status.value), 1)]
    if job.started_at is not None:
        seen.append(("queue_wait", model, max(0.0, job.started_at - job.created_at)))
        if job.finished_at is not None:
            seen.append(("run", model, max(0.0, job.finished_at - job.started_at)))
    if job.status is Status.SUCCEEDED and job.cost_actual:
        seen.append(("credits", model, float(job.cost_actual)))
    return seen


def add(observations: Iterable[Observation]) -> None:
    """Add what a worker (or the API process itself) saw; an unknown name is skipped, so that
    a newer worker may report what an older API process does not know yet."""
    for name, labels, value in observations:
        observe = OBSERVED.get(name)
        if observe is not None:
            observe(labels, value)


#: Families only worker processes observe (and tell their supervisor): a process that runs
#: none leaves them out rather than serve zeros for what it cannot see.
WORKER_SIDE = frozenset(
    family.name
    for figure in (
        BATCH_SIZE,
        LOAD_TIME,
        LOADS,
        EVICTIONS,
        BUSY,
        IDLE_GAP,
        REFERENCE_REFUSALS,
        RETRIED,
    )
    for family in figure.describe()
)
#: Families each process counts of what it saw itself: a job's end (by the worker that ran
#: it, or by the API process that canceled it while queued) and a failed store call, so that
#: the sum over processes counts each once. Every other family is an API process's alone.
SHARED = frozenset(
    family.name
    for figure in (FINISHED, QUEUE_WAIT, RUN_TIME, CREDITS, STORE_ERRORS)
    for family in figure.describe()
)


def served(*, api: bool, workers: bool) -> Iterator[Metric]:
    """The registry's families that a process serves: with ``api``, it answers HTTP requests;
    with ``workers``, it supervises worker processes."""
    for family in REGISTRY.collect():
        if family.name in WORKER_SIDE:
            if workers:
                yield family
        elif api or family.name in SHARED:
            yield family


def queue_figures(depths: dict[str, tuple[int, float]]) -> Iterator[Metric]:
    """The queue's depth and its oldest job's age, by model, from ``depths`` as the store
    counted them at scrape time (``JobStore.queue_depths``)."""
    depth = GaugeMetricFamily("genq_queue_depth", "Jobs queued, by model.", labels=["model"])
    oldest = GaugeMetricFamily(
        "genq_queue_oldest_age_seconds", "Age of the oldest queued job, by model.", labels=["model"]
    )
    now = time.time()
    for model, (count, created_at) in sorted(depths.items()):
        depth.add_metric([model], count)
        oldest.add_metric([model], max(0.0, now - created_at))
    yield depth
    yield oldest


def worker_figures(alive: int, busy: int) -> Iterator[Metric]:
    """The worker processes of this process's supervisor, as it counts them at scrape time."""
    workers = GaugeMetricFamily(
        "genq_workers",
        "Worker processes of this process (genq serve or genq worker), by state: alive, and "
        "busy (alive and holding a job).",
        labels=["state"],
    )
    workers.add_metric(["alive"], alive)
    workers.add_metric(["busy"], busy)
    yield workers
