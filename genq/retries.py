"""Automatic retries: which failures run a job again, after how long, and what the job's
stream says of it. A model's ``[models.NAME]`` table sets ``max_retries`` (default 0: none)
and ``retry_backoff_seconds``; the worker asks ``AutoRetry.delay`` at each failure.

A job failing with ``model_error`` or ``out_of_memory`` on attempt ``n`` (its ``attempts``,
which count every claim, a lost worker's included) goes back to the queue when ``n`` is at
most ``max_retries``: not before ``backoff * 2 ** (n - 1)`` seconds (within a fifth either
way, at random, so that jobs that failed together do not come back together), and at most
an hour. Past that, it fails as usual.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from genq.jobs import Failure

#: The error codes that may go away by themselves: the model's own failure, and running out
#: of memory (the worker halves its batches after one).
RETRYABLE_CODES = frozenset({"model_error", "out_of_memory"})
DEFAULT_BACKOFF_SECONDS = 5.0
#: The longest wait before a retry, however many came before it.
MAX_BACKOFF_SECONDS = 3600.0
#: Most automatic retries a model may allow.
MOST_RETRIES = 100
#: How far, as a fraction, a wait is moved either way at random.
JITTER = 0.2


@dataclass(frozen=True)
class AutoRetry:
    """A model's automatic retries."""

    max_retries: int = 0
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS

    def delay(self, failure: Failure, attempt: int) -> float | None:
        """Seconds before a job whose ``attempt`` (1 for its first) failed with ``failure``
        runs again; None: it fails."""
        if failure.code not in RETRYABLE_CODES or attempt > self.max_retries:
            return None
        base = min(self.backoff_seconds * 2 ** max(0, attempt - 1), MAX_BACKOFF_SECONDS)
        return base * random.uniform(1 - JITTER, 1 + JITTER)


def retry_event(failure: Failure, attempt: int, run_after: float) -> dict[str, Any]:
    """The data of the ``status`` event of a job queued again after a failed attempt: the
    error, which attempt failed, and when the next may start."""
    at = isotime(run_after)
    return {
        "status": "queued",
        "error": {"code": failure.code, "message": failure.message},
        "retry": {"attempt": attempt, "next_attempt_at": at},
        "message": f"attempt {attempt} failed ({failure.code}); retrying at {at}",
    }


def waiting_message(attempts: int, run_after: float) -> str:
    """What a job waiting for its automatic retry shows as its ``status_message``."""
    return f"attempt {attempts} failed; the job runs again at {isotime(run_after)}"


def isotime(timestamp: float) -> str:
    """A time as the API writes times: RFC 3339 in UTC, to the millisecond."""
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")
