"""When a request is worth sending again, and how long to wait first."""

from __future__ import annotations

import email.utils
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from genq.client._errors import TransportError, error_fields

log = logging.getLogger("genq.client")

#: Answers that a later attempt may not get: rate limits and a gateway or store that is down.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: 503 answers that no retry can fix (the server lacks the model's packages).
PERMANENT_CODES = frozenset({"model_unavailable"})
#: Failures on the way that a new connection may not meet. An unsupported URL scheme or a
#: malformed request (other ``httpx.TransportError``s) fails the same way every time.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: A server that asks for a longer pause than this gets its error passed to the caller.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient failures up to ``max_retries`` times, with jittered exponential
    backoff, or as long as a 429's ``Retry-After`` says."""

    max_retries: int = 5
    base: float = 0.5
    cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        """Seconds before retry ``attempt + 1``. Half of it is random, so that clients that
        failed together do not come back together."""
        ceiling = min(self.cap, self.base * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def transient(self, response: httpx.Response) -> bool:
        """Whether an error answer (its body read) may go away by itself."""
        if response.status_code not in RETRY_STATUSES:
            return False
        return error_fields(response)[0] not in PERMANENT_CODES

    def after_response(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before sending again after this answer; None: keep the answer."""
        if attempt >= self.max_retries or not self.transient(response):
            return None
        asked = retry_after(response)
        if asked is not None and asked > MAX_RETRY_AFTER:
            return None
        delay = self.backoff(attempt) if asked is None else asked
        log.debug("%s answered %s; retrying in %.2f s", response.url, response.status_code, delay)
        return delay

    def after_error(self, attempt: int, error: httpx.RequestError) -> float:
        """Seconds to wait before sending again after a failed exchange; raises
        ``TransportError`` once no retry is due."""
        if isinstance(error, TRANSIENT_ERRORS) and attempt < self.max_retries:
            delay = self.backoff(attempt)
            log.debug("%s; retrying in %.2f s", describe(error), delay)
            return delay
        tries = f" after {attempt + 1} attempts" if attempt else ""
        raise TransportError(f"{describe(error)}{tries}") from error


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds: a number of seconds or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def describe(error: httpx.RequestError) -> str:
    """``GET http://... : ReadError: ...``, as far as the error knows its request."""
    try:
        where = f"{error.request.method} {error.request.url}: "
    except RuntimeError:  # raised by a transport before httpx attached the request
        where = ""
    return f"{where}{type(error).__name__}: {error}".rstrip(": ")
