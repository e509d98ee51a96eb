"""The job service: the one place that turns requests into store, storage and notifier calls.

HTTP surfaces (the native API and each vendor dialect) call only this.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from genq import limits, pricing
from genq.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from genq.jobs import ApiKey, Event, EventType, Job, JobStatus, Origin, Output
from genq.keys import hash_key
from genq.models.aliases import Alias
from genq.models.registry import ModelRegistry, RegisteredModel
from genq.notifier import Notifier, job_topic
from genq.settings import Settings
from genq.storage import FileStorage
from genq.store import JobFilter, JobStore, NewJob

__all__ = ["JobFilter", "JobService", "QueueState"]

if TYPE_CHECKING:
    from genq.http.links import OutputLinks

log = logging.getLogger("genq.service")

T = TypeVar("T")

MAX_WAIT_SECONDS = 60.0
MAX_PAGE = 100
#: Jobs a listing reads from the store at a time.
LIST_CHUNK = 25
#: Highest page number of a numbered listing (its offset must fit a 64-bit integer).
MAX_PAGE_NUMBER = 1_000_000
#: Most text a dialect puts in a response body in place of a link.
MAX_TEXT_BYTES = 1 << 20


@dataclass(frozen=True)
class QueueState:
    """Where a queued job stands: jobs of its model ahead of it, and why it may wait long."""

    position: int
    message: str | None


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


def fingerprint(model: str, input: Any, priority: int, metadata: Any) -> str:
    body = {"model": model, "input": input, "priority": priority, "metadata": metadata}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def listed_size(job: Job) -> int:
    """About how many bytes a job takes in a listing: its input, metadata and vendor request
    (what may be large), and a fixed share for the rest."""
    request = job.origin.request if job.origin is not None else None
    return len(orjson.dumps([job.input, job.metadata, request])) + 1024


def known_id(job_id: str) -> str:
    """``job_id``, or 404 for one that no job can have: ids never hold a NUL, and PostgreSQL
    could not even look one up."""
    if "\x00" in job_id:
        raise NotFound(f"no job {job_id!r}", code="job_not_found")
    return job_id


class JobService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        storage: FileStorage,
        registry: ModelRegistry,
        notifier: Notifier,
    ) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.registry = registry
        self.notifier = notifier
        self._served: set[str] = set()
        self._served_at = -1.0

    async def start(self) -> None:
        """Start hearing of other processes' changes (the notifier)."""
        await self.notifier.start()

    async def close(self) -> None:
        """Stop hearing of changes and release the store's connections."""
        await self.notifier.close()
        self.store.close()

    # -- what the surfaces may read -------------------------------------------------------
    @property
    def max_json_depth(self) -> int:
        """How deeply a request body's JSON may nest."""
        return self.settings.max_json_depth

    @property
    def public_url(self) -> str | None:
        """The address links point at, when set; else each request's own."""
        return self.settings.public_url

    def resolve(self, name: str) -> tuple[RegisteredModel, Alias | None]:
        """The model ``name`` names, and the alias it went through (None: its own name)."""
        return self.registry.resolve(name)

    def model(self, name: str) -> RegisteredModel:
        """The model called ``name``, or the one the alias ``name`` names (404 otherwise)."""
        return self.registry.get(name)

    def models(self) -> list[RegisteredModel]:
        """Every registered model."""
        return list(self.registry)

    def aliases_of(self, name: str) -> list[str]:
        """The aliases that name the model ``name``."""
        return self.registry.aliases_of(name)

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # SQLite calls take microseconds and are made inline; a store that waits on the
        # network (PostgreSQL) is run in a thread so that it never stalls the event loop.
        if self.store.blocking:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    # -- auth ----------------------------------------------------------------------------
    async def authenticate(self, raw_key: str | None) -> ApiKey:
        if not raw_key:
            raise Unauthorized("missing API key: send Authorization: Bearer KEY or x-api-key")
        key = await self._db(self.store.find_key, hash_key(raw_key))
        if key is None:
            raise Unauthorized("unknown API key")
        if key.disabled:
            raise Unauthorized("this API key is disabled", code="key_disabled")
        return key

    # -- jobs ----------------------------------------------------------------------------
    async def submit(
        self,
        account_id: str,
        model: str,
        input: Any,
        *,
        priority: int = 0,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        api: str = "native",
        request: dict[str, Any] | None = None,
        retention_seconds: float | None = None,
    ) -> tuple[Job, bool]:
        """Validate and enqueue a job; returns it and whether it was created (not replayed).

        ``model`` may be an alias. A vendor dialect names itself as ``api`` and hands over
        ``request``, its normalized form of the call, which the job keeps (and which an
        idempotent replay must match), and may give its jobs their own retention period.
        """
        new = self._new_job(
            account_id,
            model,
            input,
            priority=priority,
            metadata=metadata,
            idempotency_key=idempotency_key,
            api=api,
            request=request,
            retention_seconds=retention_seconds,
        )
        submitted = await self._db(self.store.submit, new)
        if submitted.created:
            self.notifier.publish("queued", new.model)
        return submitted.job, submitted.created

    async def submit_group(
        self,
        account_id: str,
        model: str,
        parts: list[tuple[Any, dict[str, Any]]],
        *,
        api: str,
        retention_seconds: float | None = None,
    ) -> list[Job]:
        """Validate and enqueue several jobs of one model, each an ``(input, request)`` pair,
        all or none: one refused input or a balance too small for all of them queues none."""
        news = [
            self._new_job(
                account_id,
                model,
                input,
                api=api,
                request=request,
                retention_seconds=retention_seconds,
            )
            for input, request in parts
        ]
        jobs = await self._db(self.store.submit_many, news)
        if jobs:
            self.notifier.publish("queued", jobs[0].model)
        return jobs

    def _new_job(
        self,
        account_id: str,
        model: str,
        input: Any,
        *,
        priority: int = 0,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        api: str,
        request: dict[str, Any] | None,
        retention_seconds: float | None,
    ) -> NewJob:
        registered, alias = self.registry.resolve(model)
        if alias is not None:
            input = {**alias.input, **input} if isinstance(input, dict) else input
        self._check_request(input, metadata, idempotency_key, request)
        validated = registered.validate(input)
        registered.check_available()
        metadata = metadata or {}
        origin = None
        if api != "native" or alias is not None:
            origin = Origin(api, model, request or {})
        estimate = pricing.estimate(registered, validated, alias)
        now = time.time()
        fingerprinted = input if request is None else {"api": api, "request": request}
        return NewJob(
            id=new_job_id(),
            account_id=account_id,
            model=registered.name,
            input=validated,
            priority=priority,
            metadata=metadata,
            cost_estimate=estimate,
            created_at=now,
            expires_at=now + (retention_seconds or self.settings.retention_seconds),
            idempotency_key=idempotency_key,
            fingerprint=(
                fingerprint(model, fingerprinted, priority, metadata)
                if idempotency_key is not None
                else None
            ),
            batch_key=registered.batch_key(validated),
            origin=origin,
        )

    def _check_request(
        self,
        input: Any,
        metadata: dict[str, Any] | None,
        idempotency_key: str | None,
        request: dict[str, Any] | None,
    ) -> None:
        """The caps every submit meets, whatever surface it came through (``genq.limits``)."""
        settings = self.settings
        limits.check_json(input, settings.max_json_depth, "input")
        limits.check_text(input, settings.max_text_chars)
        if request is not None:  # a vendor request, which the job keeps
            limits.check_json(request, settings.max_json_depth, "request")
            limits.check_text(request, settings.max_text_chars, "request")
        if metadata is not None:
            limits.check_metadata(
                metadata,
                max_bytes=settings.max_metadata_bytes,
                max_keys=settings.max_metadata_keys,
                max_depth=settings.max_metadata_depth,
            )
        limits.check_param(idempotency_key, "header/Idempotency-Key")

    async def get(self, account_id: str, job_id: str) -> Job:
        job = await self._db(self.store.get_job, account_id, known_id(job_id), time.time())
        if job is None:
            raise NotFound(f"no job {job_id!r}", code="job_not_found")
        return job

    async def wait(self, account_id: str, job_id: str, timeout: float) -> Job:
        """The job once terminal, or as it is after ``timeout`` seconds (at most a minute)."""
        deadline = time.monotonic() + min(timeout, MAX_WAIT_SECONDS)
        with self.notifier.subscribe(job_topic(job_id)) as subscription:
            while True:
                job = await self.get(account_id, job_id)
                left = deadline - time.monotonic()
                if job.terminal or left <= 0:
                    return job
                # The periodic re-read covers changes made where no publish reaches us.
                await subscription.wait(min(left, self.settings.poll_interval_seconds))

    async def queue_state(self, job: Job) -> QueueState | None:
        if job.status is not JobStatus.QUEUED:
            return None
        position = await self._db(self.store.queue_position, job)
        message = None
        if job.model not in await self.served_models():
            message = (
                f"no worker serves model {job.model!r} at the moment: the job stays queued "
                "until one that does starts"
            )
        return QueueState(position, message)

    async def served_models(self) -> set[str]:
        """Models that live workers serve (re-read at most once a second)."""
        now = time.monotonic()
        if now - self._served_at > 1.0:
            # A worker refreshes its entry every third of a lease.
            since = time.time() - self.settings.lease_seconds
            self._served = await self._db(self.store.served_models, since)
            self._served_at = now
        return self._served

    async def list_jobs(
        self,
        account_id: str,
        *,
        limit: int = 20,
        before: int | None = None,
        status: str | None = None,
        model: str | None = None,
    ) -> tuple[list[Job], int | None]:
        """Up to ``limit`` jobs, newest first, from before the sequence number ``before``
        (None: the newest), and the sequence number of the next page (None: no more)."""
        if status is not None and status not in JobStatus.__members__.values():
            raise ValidationFailed(
                f"unknown status {status!r}",
                details=[{"path": "status", "message": f"one of {[s.value for s in JobStatus]}"}],
            )
        limit = max(1, min(limit, MAX_PAGE))
        where = JobFilter(statuses=(status,) if status else (), model=model)
        rows, more = await self._read_page(
            account_id,
            time.time(),
            where,
            limit,
            before=before,
            budget=self.settings.max_list_bytes,
        )
        return [job for _, job in rows], rows[-1][0] if more else None

    async def page_jobs(
        self, account_id: str, where: JobFilter, *, page: int = 1, page_size: int = 20
    ) -> tuple[list[Job], int]:
        """One numbered page of the jobs a filter selects, newest first, and their total."""
        page_size = max(1, min(page_size, MAX_PAGE))
        now = time.time()
        offset = (max(page, 1) - 1) * page_size
        # A numbered page is always whole: ending one early would shift every later page.
        rows, _ = await self._read_page(
            account_id, now, where, page_size, offset=offset, budget=None
        )
        total = await self._db(self.store.count_jobs, account_id, now, where)
        return [job for _, job in rows], total

    async def _read_page(
        self,
        account_id: str,
        now: float,
        where: JobFilter,
        limit: int,
        *,
        before: int | None = None,
        offset: int = 0,
        budget: int | None,
    ) -> tuple[list[tuple[int, Job]], bool]:
        """Up to ``limit`` jobs, newest first, and whether more follow. A page also ends once
        it holds ``budget`` bytes of input and metadata (None: never), with at least one job,
        so that no listing makes an answer, or this process, hold more than that; it is read
        in chunks for the same reason."""
        limits.check_param(where.model, "model")
        page: list[tuple[int, Job]] = []
        size = 0
        while len(page) < limit:
            chunk = min(LIST_CHUNK, limit - len(page))
            rows = await self._db(
                self.store.list_jobs,
                account_id,
                now,
                limit=chunk + 1,
                before_seq=before,
                offset=offset if before is None else 0,
                where=where,
            )
            for seq, job in rows[:chunk]:
                size += listed_size(job)
                if page and budget is not None and size > budget:
                    return page, True
                page.append((seq, job))
            if len(rows) <= chunk:
                return page, False
            before = page[-1][0]
        return page, True

    async def cancel(self, account_id: str, job_id: str) -> Job:
        """Cancel a job: at once when queued, at its next step (or by force) when running."""
        job = await self._db(self.store.request_cancel, account_id, known_id(job_id), time.time())
        if job is None:
            raise NotFound(f"no job {job_id!r}", code="job_not_found")
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.EXPIRED):
            raise Conflict(
                f"job {job_id} has already {job.status.value} and cannot be canceled",
                code="job_not_cancelable",
                details={"status": job.status.value},
            )
        if job.status is JobStatus.RUNNING:
            self.notifier.publish("cancel", job_id)
        self.notifier.publish(job_topic(job_id))
        return job

    async def delete(self, account_id: str, job_id: str) -> Job:
        """Delete a job and its files, stopping it first if it runs."""
        job = await self._db(self.store.delete_job, account_id, known_id(job_id), time.time())
        if job is None:
            raise NotFound(f"no job {job_id!r}", code="job_not_found")
        if job.status is JobStatus.RUNNING:
            self.notifier.publish("cancel", job_id)
        await self._db(self.storage.delete_job, job_id)
        self.notifier.publish(job_topic(job_id))
        return job

    async def events(
        self, account_id: str, job_id: str, last_event_id: int = 0
    ) -> AsyncIterator[Event]:
        """The job's events after ``last_event_id``, live, ending after the terminal one."""
        await self.get(account_id, job_id)
        return self._follow(account_id, job_id, last_event_id)

    async def text_so_far(self, job_id: str) -> str:
        """The text a text model has streamed for the job so far (its ``text`` events)."""
        pieces: list[str] = []
        after = 0
        while events := await self._db(self.store.events_after, job_id, after):
            after = events[-1].id
            pieces.extend(e.data.get("delta", "") for e in events if e.type is EventType.TEXT)
        return "".join(pieces)

    async def output_text(self, job: Job, limit: int = MAX_TEXT_BYTES) -> str | None:
        """The content of the job's first text output (up to ``limit`` bytes); None without one."""
        for output in job.outputs:
            if output.content_type.startswith("text/"):
                data = await self._db(self.storage.read, output.key, limit)
                return None if data is None else data.decode("utf-8", errors="replace")
        return None

    async def _follow(self, account_id: str, job_id: str, after: int) -> AsyncIterator[Event]:
        ended = False
        with self.notifier.subscribe(job_topic(job_id)) as subscription:
            while True:
                events = await self._db(self.store.events_after, job_id, after)
                for event in events:
                    after = event.id
                    yield event
                    if event.type is EventType.STATUS and JobStatus(event.data["status"]).terminal:
                        return
                if events:
                    continue
                if ended:
                    # Resumed after its terminal event: nothing follows.
                    return
                job = await self._db(self.store.get_job, account_id, job_id, time.time())
                if job is None:  # deleted or retired
                    return
                if job.terminal:
                    # It ended after the read above: read its last events once more.
                    ended = True
                    continue
                await subscription.wait(self.settings.poll_interval_seconds)

    # -- files ---------------------------------------------------------------------------
    def link_expiry(self, job: Job) -> float:
        """Until when a download link to one of the job's files made now may be valid: the
        configured time, and never past the job's own end."""
        return min(time.time() + self.settings.link_ttl_seconds, job.expires_at)

    def output_links(self, job: Job, base_url: str) -> list[OutputLinks]:
        """Deprecated: ``genq.http.links.Links.outputs``, for surfaces not yet moved to it."""
        from genq.http.links import Links

        return Links(self.storage, base_url, self.link_expiry).outputs(job)

    async def output_file(
        self, account_id: str, job_id: str, index: int
    ) -> tuple[Job, Output, Path | None]:
        """One output of a job, with the job, and the file's local path where genq serves the
        storage's files (None: the storage hands out links of its own)."""
        job = await self.get(account_id, job_id)
        if not 0 <= index < len(job.outputs):
            raise NotFound(f"job {job_id} has no output {index}", code="output_not_found")
        output = job.outputs[index]
        if not self.storage.served_by_genq:
            return job, output, None
        return job, output, self._local_file(output.key)

    async def signed_file(
        self, key: str, expires: str | None, signature: str | None
    ) -> tuple[Path, str]:
        """The file behind a signed link: 403 when tampered or expired, 404 when gone."""
        if not self.storage.served_by_genq:
            raise NotFound("files are not served by genq with this storage")
        now = time.time()
        expires_at = self.storage.verify(key, expires, signature)
        job_id = key.split("/", 1)[0]
        job = await self._db(self.store.get_job_any_account, job_id, now)
        files = {}
        for o in job.outputs if job else ():
            files[o.key] = o.content_type
            if o.thumbnail is not None:
                files[o.thumbnail] = "image/jpeg"
        # A deleted or retired job's links answer 404 whatever their own expiry says.
        if key not in files:
            raise NotFound("this file no longer exists", code="file_not_found")
        if expires_at < now:
            raise Forbidden("this file link has expired", code="link_expired")
        return self._local_file(key), files[key]

    def _local_file(self, key: str) -> Path:
        path = self.storage.local_path(key)
        if path is None:
            raise NotFound("this file no longer exists", code="file_not_found")
        return path

    # -- housekeeping --------------------------------------------------------------------
    async def sweep(self) -> None:
        """Requeue jobs of lapsed leases and remove jobs whose retention has ended."""
        now = time.time()
        released = await self._db(self.store.release_lapsed, now, self.settings.max_attempts)
        for job_id in (*released.requeued, *released.failed):
            self.notifier.publish(job_topic(job_id))
        if released.requeued:
            self.notifier.publish("queued", "")
        retired = await self._db(self.store.expire, now)
        for job_id in retired.stopping:
            self.notifier.publish("cancel", job_id)
        for job in retired.removed:
            await self._db(self.storage.delete_job, job.id)
            self.notifier.publish(job_topic(job.id))
            log.info("retention ended for job %s", job.id)
