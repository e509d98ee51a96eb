"""Every error the client raises, under one base.

GenqError
├── APIError                 the server answered with an error (status_code, code, message, details)
│   ├── AuthenticationError  401 unauthorized, key_disabled; also raised, with code
│   │                        missing_api_key, when no key is found (no request is made)
│   ├── InsufficientCredits  402 insufficient_credits
│   ├── PermissionDenied     403 invalid_signature, link_expired
│   ├── NotFound             404 job_not_found, model_not_found, output_not_found, ...
│   ├── Conflict             409 idempotency_conflict, job_not_cancelable, webhook_disabled
│   ├── ValidationError      422 validation_error (details: each failing field path)
│   ├── RateLimited          429 (retry_after: what the server asked for, in seconds)
│   └── ServerError          5xx (502, 503 and 504 only once retries are spent)
├── TransportError           the server could not be reached, or the connection kept
│                            failing, after retries
├── ProtocolError            an answer the client cannot read (an unknown status word, ...)
├── Timeout                  a wait ran out before the job finished (job_id, job)
├── ChecksumMismatch         a downloaded file is not what the job recorded (path,
│                            expected, actual); the file is removed
└── JobError                 a job ended without succeeding (job)
    ├── JobFailed            status failed (code, message: the job's error)
    ├── JobCanceled          status canceled
    └── JobExpired           status expired

An ``APIError`` for another status (400, 413, ...) is raised as ``APIError`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from genq.client._types import Job


class GenqError(Exception):
    """The base of every error the client raises."""


class APIError(GenqError):
    """The server answered with an error: its HTTP status and its ``{"error"}`` body."""

    def __init__(self, message: str, *, status_code: int, code: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"


class AuthenticationError(APIError):
    """No API key, an unknown one, or a disabled one."""


class InsufficientCredits(APIError):
    """The job's estimated cost exceeds what the account has left."""


class PermissionDenied(APIError):
    """A file link that was changed or has expired."""


class NotFound(APIError):
    """No such job, model or output (or not one of this account's)."""


class Conflict(APIError):
    """An idempotency key reused with another body, or a cancel of a finished job."""


class ValidationError(APIError):
    """The request or the model's input is invalid; ``details`` lists each failing path."""


class RateLimited(APIError):
    """Too many requests; ``retry_after`` is how long the server asked the client to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """The server failed (5xx)."""


class TransportError(GenqError):
    """The server could not be reached (or kept dropping the connection) after retries."""


class ProtocolError(GenqError):
    """The server's answer is not one the client can read."""


class Timeout(GenqError):
    """A wait ran out before the job finished; resume with ``client.job(job_id).wait()``."""

    def __init__(self, job_id: str, seconds: float, job: Job | None = None) -> None:
        super().__init__(f"job {job_id} did not finish within {seconds:g} s")
        self.job_id = job_id
        #: The job as last seen before the wait ran out (None if it was not read).
        self.job = job


class ChecksumMismatch(GenqError):
    """A downloaded file's SHA-256 differs from the job's record; the file was removed."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        super().__init__(f"{path}: sha256 is {actual}, expected {expected}")
        self.path = path
        self.expected = expected
        self.actual = actual


class JobError(GenqError):
    """A job ended without succeeding; ``job`` is the finished job."""

    def __init__(self, job: Job, message: str) -> None:
        super().__init__(message)
        self.job = job


class JobFailed(JobError):
    """The job failed; ``code`` and ``message`` are its error."""

    def __init__(self, job: Job) -> None:
        self.code = job.error.code if job.error else "unknown"
        self.message = job.error.message if job.error else "no error was recorded"
        super().__init__(job, f"job {job.id} failed: {self.code}: {self.message}")


class JobCanceled(JobError):
    """The job was canceled."""

    def __init__(self, job: Job) -> None:
        super().__init__(job, f"job {job.id} was canceled")


class JobExpired(JobError):
    """The job expired before it could finish."""

    def __init__(self, job: Job) -> None:
        super().__init__(job, f"job {job.id} expired")


ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}


def error_fields(response: httpx.Response) -> tuple[str, str, Any]:
    """The ``code``, ``message`` and ``details`` of an error answer (its body already read)."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        # Not genq's error shape (a proxy's page, say): keep what little it says.
        text = response.text.strip()[:500]
        return f"http_{response.status_code}", text or response.reason_phrase or "error", None


def api_error(response: httpx.Response, retry_after: float | None = None) -> APIError:
    """The ``APIError`` for an error answer (its body already read)."""
    status = response.status_code
    code, message, details = error_fields(response)
    cls = ServerError if status >= 500 else ERRORS_BY_STATUS.get(status, APIError)
    kwargs: dict[str, Any] = {"status_code": status, "code": code, "details": details}
    if cls is RateLimited:
        kwargs["retry_after"] = retry_after
    return cls(message, **kwargs)
