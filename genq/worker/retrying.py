"""A failed attempt run again: the job goes back to the queue, to be taken after a backoff,
when its model allows another attempt for that failure (``genq.retries``)."""

from __future__ import annotations

import logging
import time

from genq.errors import Missing, StoreUnavailable
from genq.jobs import Claim, Failure, JobRecord
from genq.models.registry import ModelRegistry
from genq.retries import retry_event
from genq.store import JobStore

log = logging.getLogger("genq.worker")


def retry_later(
    store: JobStore, registry: ModelRegistry, claim: Claim, error: Failure | None
) -> JobRecord | None:
    """The job queued again after its attempt failed with ``error``; None when it ends instead
    (no retry is due, the lease was lost, a cancel was asked for, or the database is out of
    reach: then the end is recorded as usual)."""
    if error is None:
        return None
    try:
        rule = registry.get(claim.job.model).retry
    except Missing:
        return None
    delay = rule.delay(error, claim.attempt)
    if delay is None:
        return None
    now = time.time()
    run_after = now + delay
    event = retry_event(error, claim.attempt, run_after)
    try:
        job = store.retry_later(claim, now, run_after=run_after, event=event)
    except StoreUnavailable as exc:
        log.warning("could not queue job %s again: %s", claim.job.id, exc.message)
        return None
    if job is not None:
        log.info(
            "job %s: attempt %d failed (%s); it runs again in %.1f s",
            claim.job.id,
            claim.attempt,
            error.code,
            delay,
        )
    return job
