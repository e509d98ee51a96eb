"""Following a job to its end, without I/O: each client drives a ``Follow`` with its own
requests.

A follow reads the job's event stream. When the stream drops, or ends before the terminal
status event, it reconnects with ``Last-Event-ID`` so that no event comes twice; at once if
the stream was bringing events, after a backoff if not. A wait that keeps failing to stream
turns to long-polling ``GET /v1/jobs/{id}?wait=N``; an event iterator, which cannot get
events that way, gives up with ``TransportError``.
"""

from __future__ import annotations

import json
import time

import httpx
from httpx_sse import ServerSentEvent

from genq.client._base import Call, get_job, job_path, long_poll_timeout, with_read
from genq.client._errors import ProtocolError, Timeout, TransportError, api_error
from genq.client._retry import MAX_RETRY_AFTER, RetryPolicy, describe, retry_after
from genq.client._types import Event, Job, Progress

#: The server pings every 15 s: a stream silent for three pings is dead.
STREAM_IDLE = 45.0
#: Stream attempts in a row that bring nothing new before a wait turns to long-polling.
FAILURES_BEFORE_POLLING = 3
#: Longest a long-poll asks the server to hold its answer (it allows 60 s).
LONGEST_POLL = 30.0


class StreamRefused(Exception):
    """The event stream answered an error that a later attempt may not get (429, 502-504)."""


class Follow:
    """The state of following one job: the last event seen, the failures in a row, the
    deadline, and whether it has turned to long-polling."""

    def __init__(
        self,
        job_id: str,
        policy: RetryPolicy,
        http_timeout: httpx.Timeout,
        *,
        timeout: float | None = None,
        after: int = 0,
        job: Job | None = None,
        can_poll: bool = False,
    ) -> None:
        self.job_id = job_id
        self.policy = policy
        self.http_timeout = http_timeout
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.last_id = after
        #: The job as last read (for ``Timeout``); the terminal job once polled.
        self.job = job
        self.can_poll = can_poll
        self.failures = 0
        self.polling = False
        #: The terminal status was seen (as an event or a polled job).
        self.finished = False
        self._fresh = False
        self._asked: float | None = None
        self._progress = None if job is None else job.progress

    def left(self) -> float | None:
        """Seconds left until the deadline (None: no deadline); raises ``Timeout`` past it."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            assert self.timeout is not None
            raise Timeout(self.job_id, self.timeout, self.job)
        return left

    # -- the event stream --------------------------------------------------------------
    def stream_call(self) -> Call[None]:
        """The request for the stream, resuming after the last event seen."""
        left = self.left()
        # A read that waits past the deadline would hold the caller past its timeout.
        idle = STREAM_IDLE if left is None else min(STREAM_IDLE, left)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_id:
            headers["Last-Event-ID"] = str(self.last_id)
        self._fresh = False
        timeout = with_read(self.http_timeout, idle)
        url = f"{job_path(self.job_id)}/events"
        # The server's keep-alive pings would hold a quiet stream open past the deadline:
        # it is asked to end the stream then.
        params = None if left is None else {"timeout": round(max(left, 0.1), 3)}
        return Call(
            "GET", url, lambda response: None, params=params, headers=headers, timeout=timeout
        )

    def refused(self, response: httpx.Response) -> None:
        """Raise for an error answer to the stream request (its body read)."""
        if self.policy.transient(response):
            self._asked = retry_after(response)
            raise StreamRefused(f"the event stream answered {response.status_code}")
        raise api_error(response, retry_after(response))

    def accept(self, sse: ServerSentEvent) -> Event | None:
        """The event, or None for a keep-alive or an event already delivered."""
        if not sse.data:
            return None
        try:
            data = json.loads(sse.data)
        except ValueError:
            raise ProtocolError(f"event {sse.id!r} has data that is not JSON") from None
        event = Event.from_sse(sse.id, sse.event, data, self.job_id)
        if event.id <= self.last_id:
            return None
        self.last_id = event.id
        self._fresh = True
        progress = event.progress
        if progress is not None:
            self._progress = progress
        status = event.status
        if status is not None and status.terminal:
            self.finished = True
        else:
            self.left()
        return event

    def dropped(self, error: BaseException | None) -> float:
        """Seconds to wait before reconnecting, after the stream ended without the terminal
        event (``error``: how it broke). Turns to polling, or raises ``TransportError``, after
        repeated failures; raises ``Timeout`` past the deadline."""
        self.left()
        if self._fresh:
            # It was bringing events: pick up where it stopped, at once.
            self.failures = 0
            return 0.0
        self.failures += 1
        if self.can_poll and self.failures >= min(
            FAILURES_BEFORE_POLLING, self.policy.max_retries + 1
        ):
            self.polling = True
            return 0.0
        if self.failures > self.policy.max_retries:
            how = "ended" if error is None else describe_any(error)
            raise TransportError(
                f"the event stream of job {self.job_id} failed {self.failures} times in a row"
                f" (last: {how})"
            ) from error
        if self._asked is None:
            delay = self.policy.backoff(self.failures - 1)
        else:
            delay, self._asked = min(self._asked, MAX_RETRY_AFTER), None
        left = self.left()
        return delay if left is None else min(delay, left)

    # -- long-polling ------------------------------------------------------------------
    def poll_call(self) -> Call[Job]:
        left = self.left()
        wait = LONGEST_POLL if left is None else min(LONGEST_POLL, left)
        return get_job(self.job_id, wait, long_poll_timeout(self.http_timeout, wait))

    def polled(self, job: Job) -> Progress | None:
        """Take a polled job; returns its progress if that changed since last seen."""
        self.job = job
        changed = job.progress if job.progress != self._progress else None
        self._progress = job.progress
        self.finished = job.status.terminal
        return changed


def describe_any(error: BaseException) -> str:
    if isinstance(error, httpx.RequestError):
        return describe(error)
    return f"{type(error).__name__}: {error}"
