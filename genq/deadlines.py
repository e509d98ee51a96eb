"""A job's time limits: the start deadline it must have started by, or it ends ``expired``;
and the timeout it may run for once started, or it ends ``failed`` with code ``timeout``.

The rules every surface, the store and the workers apply: what a submit may ask for, and how
a job that missed a limit explains itself.
"""

from __future__ import annotations

import math
from datetime import datetime

from genq.errors import ValidationFailed
from genq.jobs import Failure, JobRecord

#: The error code of a job that expired at its start deadline.
START_DEADLINE_CODE = "start_deadline"
#: Its message (one statement expires many jobs: it names no time).
START_DEADLINE_MESSAGE = "no worker started the job before its start deadline"
#: The error code of a job stopped at its timeout.
TIMEOUT_CODE = "timeout"
#: The longest timeout a model or a job may have: a year.
MAX_TIMEOUT_SECONDS = 365 * 86_400.0


def start_deadline_at(value: float | str, now: float, expires_at: float) -> float:
    """The time (``time.time()``) a submit's ``start_deadline`` names: seconds from ``now``
    (a number), or an RFC 3339 time with its offset. 422 unless it lies after ``now`` and no
    later than ``expires_at``, the end of the job's retention."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _invalid_deadline("not a number of seconds or an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise _invalid_deadline("an RFC 3339 time needs its offset (Z or +HH:MM)")
        at = moment.timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        if value <= 0:
            raise _invalid_deadline("must be more than 0 seconds from now")
        at = now + value
    else:
        raise _invalid_deadline("not a number of seconds or an RFC 3339 time")
    if at <= now:
        raise _invalid_deadline("must be in the future")
    if at > expires_at:
        raise _invalid_deadline(
            f"must be within the job's retention, {expires_at - now:g} seconds from now"
        )
    return at


def _invalid_deadline(message: str) -> ValidationFailed:
    return ValidationFailed.at("start_deadline", message)


def run_limit(requested: float | None, model_limit: float | None, model: str) -> float | None:
    """A job's timeout in seconds: the one its submit asked for, which may not exceed its
    model's, or the model's; None: no limit. 422 for a limit that is not a positive number
    or exceeds the model's."""
    if requested is None:
        return model_limit
    if isinstance(requested, bool) or not 0 < requested <= MAX_TIMEOUT_SECONDS:
        raise ValidationFailed.at("timeout", "must be a number of seconds above 0, at most a year")
    if model_limit is not None and requested > model_limit:
        raise ValidationFailed.at(
            "timeout", f"must be at most {model_limit:g} seconds, the limit of model {model!r}"
        )
    return float(requested)


def run_deadline(job: JobRecord) -> float | None:
    """When a running job's timeout ends (``time.time()``); None: it has none (or has not
    started)."""
    if job.timeout_seconds is None or job.started_at is None:
        return None
    return job.started_at + job.timeout_seconds


def timeout_failure(seconds: float) -> Failure:
    """The error of a job stopped at its timeout of ``seconds``."""
    return Failure(TIMEOUT_CODE, f"the job ran longer than its timeout of {seconds:g} seconds")
