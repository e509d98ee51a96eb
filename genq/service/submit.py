"""Submitting jobs: the checks every submit meets, whatever surface it came through, and the
job that goes to the store."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import Any

import orjson

from genq import deadlines, limits, metrics, pricing
from genq.jobs import JobRecord, OriginRecord
from genq.service.quotas import Quotas
from genq.service.webhooks import Webhooks
from genq.store import NewJob


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


def fingerprint(model: str, input: Any, priority: int, metadata: Any) -> str:
    body = {"model": model, "input": input, "priority": priority, "metadata": metadata}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def hooked_fingerprint(plain: str, webhook: str, events: Sequence[str]) -> str:
    """The fingerprint of a submit with a webhook: a replay must name the same one (a job
    without one keeps the fingerprint it always had)."""
    body = {"fingerprint": plain, "webhook": webhook, "events": list(events)}
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def retry_fingerprint(plain: str, retry_of: str) -> str:
    """The fingerprint of a retry: its key replays a retry of that same job, nothing else."""
    body = {"fingerprint": plain, "retry_of": retry_of}
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def limited_fingerprint(
    plain: str, start_deadline: float | str | None, timeout: float | None
) -> str:
    """The fingerprint of a submit with time limits: a replay must ask for the same ones, as
    written (a job without any keeps the fingerprint it always had)."""
    body = {"fingerprint": plain, "start_deadline": start_deadline, "timeout": timeout}
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


class Submitting(Quotas, Webhooks):
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
        webhook: str | None = None,
        webhook_events: Sequence[str] | None = None,
        start_deadline: float | str | None = None,
        timeout: float | None = None,
        retry_of: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Validate and enqueue a job; returns it and whether it was created (not replayed).

        ``model`` may be an alias. A vendor dialect names itself as ``api`` and hands over
        ``request``, its normalized form of the call, which the job keeps (and which an
        idempotent replay must match), and may give its jobs their own retention period.
        ``start_deadline`` and ``timeout`` are the job's time limits (``genq.deadlines``).
        ``webhook`` is called on ``webhook_events`` (default ``completed``). ``retry_of``: the
        job this one runs again (``genq.service.retry``), linked to it.
        """
        over_quota = await self.over_quota(account_id)
        await self.disk.check()
        events = await self.check_webhook(webhook, webhook_events)
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
            start_deadline=start_deadline,
            timeout=timeout,
        )
        if webhook is not None:
            new = dataclasses.replace(
                new,
                webhook=webhook,
                webhook_events=events,
                fingerprint=None
                if new.fingerprint is None
                else hooked_fingerprint(new.fingerprint, webhook, events),
            )
        if retry_of is not None:
            new = dataclasses.replace(
                new,
                retry_of=retry_of,
                fingerprint=None
                if new.fingerprint is None
                else retry_fingerprint(new.fingerprint, retry_of),
            )
        if new.fingerprint is not None and (start_deadline is not None or timeout is not None):
            limited = limited_fingerprint(new.fingerprint, start_deadline, timeout)
            new = dataclasses.replace(new, fingerprint=limited)
        if over_quota is not None:
            # Refused by the store, unless this submit replays a job it made already.
            new = dataclasses.replace(new, over_quota=over_quota)
        submitted = await self._db(self.store.submit, new)
        if submitted.created:
            metrics.SUBMITTED.labels(new.model, api).inc()
        return submitted.job, submitted.created

    async def submit_group(
        self,
        account_id: str,
        model: str,
        parts: list[tuple[Any, dict[str, Any]]],
        *,
        api: str,
        retention_seconds: float | None = None,
    ) -> list[JobRecord]:
        """Validate and enqueue several jobs of one model, each an ``(input, request)`` pair,
        all or none: one refused input or a balance too small for all of them queues none."""
        await self.disk.check()
        await self.check_quota(account_id)
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
            metrics.SUBMITTED.labels(news[0].model, api).inc(len(jobs))
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
        start_deadline: float | str | None = None,
        timeout: float | None = None,
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
            origin = OriginRecord(api, model, request or {})
        estimate = pricing.estimate(registered, validated, alias)
        now = time.time()
        fingerprinted = input if request is None else {"api": api, "request": request}
        expires_at = now + (retention_seconds or self.settings.retention_seconds)
        deadline = None
        if start_deadline is not None:
            deadline = deadlines.start_deadline_at(start_deadline, now, expires_at)
        run_limit = deadlines.run_limit(timeout, registered.timeout_seconds, registered.name)
        return NewJob(
            id=new_job_id(),
            account_id=account_id,
            model=registered.name,
            input=validated,
            priority=priority,
            metadata=metadata,
            cost_estimate=estimate,
            max_queued_default=self.settings.max_queued_per_account,
            created_at=now,
            expires_at=expires_at,
            idempotency_key=idempotency_key,
            fingerprint=(
                fingerprint(model, fingerprinted, priority, metadata)
                if idempotency_key is not None
                else None
            ),
            batch_key=registered.batch_key(validated),
            origin=origin,
            start_deadline=deadline,
            timeout_seconds=run_limit,
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
