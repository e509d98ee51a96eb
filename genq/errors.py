"""The server's errors: one exception base; each error has one HTTP status and one
machine-readable code. (The client's exceptions, ``genq.APIError`` and below, are other
classes with other names: one raised by the server becomes one of those at the client.)

ServiceError
├── BadRequest            400 invalid_json / bad_request
├── Unauthorized          401 unauthorized
├── OutOfCredits          402 insufficient_credits
├── Forbidden             403 invalid_signature / link_expired / quota_exceeded
├── Missing               404 not_found / job_not_found / model_not_found
├── Clash                 409 idempotency_conflict / job_not_cancelable
├── PayloadTooLarge       413 payload_too_large
├── RangeNotSatisfiable   416 range_not_satisfiable (a file download's Range starts past its end)
├── ValidationFailed      422 validation_error (details: failing field paths)
├── RequestRateExceeded   429 rate_limited (the key's requests per second; Retry-After)
├── TooManyRequests       429 too_many_queued
├── ModelUnavailable      503 model_unavailable
├── StoreUnavailable      503 store_unavailable (the database cannot be reached; retry)
├── StorageFull           503 storage_full (the disk is nearly full: no new jobs; Retry-After)
└── ConfigError           (start-up only, never reaches HTTP)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Longest error message, and longest string in its details: a message may quote the value
#: it refuses, and no value may make an answer (or a log line) grow with it.
MAX_MESSAGE_CHARS = 1000
#: Most failing fields one error lists.
MAX_ERROR_DETAILS = 50


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded(details: Any) -> Any:
    if isinstance(details, list):
        return [_bounded(d) for d in details[:MAX_ERROR_DETAILS]]
    if isinstance(details, dict):
        return {k: _bounded(v) for k, v in details.items()}
    if isinstance(details, str):
        return shorten(details, MAX_MESSAGE_CHARS // 4)
    return details


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        message = shorten(message)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = _bounded(details)
        #: Headers every surface's answer carries, whatever its body's shape (``Retry-After``).
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(ServiceError):
    status_code = 400
    code = "bad_request"


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class OutOfCredits(ServiceError):
    status_code = 402
    code = "insufficient_credits"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class Missing(ServiceError):
    status_code = 404
    code = "not_found"


class Clash(ServiceError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class RangeNotSatisfiable(ServiceError):
    status_code = 416
    code = "range_not_satisfiable"


class ValidationFailed(ServiceError):
    status_code = 422
    code = "validation_error"

    @classmethod
    def at(cls, path: str, message: str) -> ValidationFailed:
        """The error for one failing field, named by its path (``input/width``)."""
        detail = {"path": path, "message": message}
        return cls(f"invalid request: {path}: {message}", details=[detail])


class TooManyRequests(ServiceError):
    """Refused for now: an account's limit is reached; the same request may succeed later."""

    status_code = 429
    code = "too_many_requests"


class RequestRateExceeded(ServiceError):
    """The key asked more often than its rate limit allows (``genq.service.rate_limits``)."""

    status_code = 429
    code = "rate_limited"


class ModelUnavailable(ServiceError):
    status_code = 503
    code = "model_unavailable"


class StoreUnavailable(ServiceError):
    status_code = 503
    code = "store_unavailable"


class StorageFull(ServiceError):
    status_code = 503
    code = "storage_full"


class ConfigError(ServiceError):
    code = "config_error"
