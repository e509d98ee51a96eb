"""What a supervisor and its worker processes say to each other over their pipe.

Each message is a small frozen value, sent as it is (``multiprocessing`` pickles it):

=========================  ===================  ==============================================
message                    direction            meaning
=========================  ===================  ==============================================
``Wake()``                 supervisor → worker  a job was queued: claim now, not at the next
                                                poll
``Cancel(job_id)``         supervisor → worker  stop that job if it is in hand (sent to every
                                                worker: the one that just claimed it may not
                                                have said so yet)
``Stop()``                 supervisor → worker  finish the job in hand, claim no more, exit
``Idle(figures)``          worker → supervisor  nothing to claim: wake me when a job comes
``Busy(job_id, ...)``      worker → supervisor  the job is claimed (its claim is committed);
                                                ``timeout_at``: when its timeout ends, if any
``Changed(job_id)``        worker → supervisor  the worker's store committed another change of
                                                the job (progress, text, logs)
``Done(job_id, figures)``  worker → supervisor  the job is no longer in hand (its end is
                                                committed, or could not be)
=========================  ===================  ==============================================

The supervisor publishes each ``Busy``, ``Changed`` and ``Done`` on the job's topic: a claim
and an end are told once, by the message that says the job is in hand or no longer (with
PostgreSQL the store announces to every process itself, and the publish does nothing). It
reads a worker's first message as a sign it started well, and ``Busy``/``Done`` to know which
worker to kill when a cancel or a timeout is not obeyed in time.

The store is the truth; the pipe only makes things fast. A lost message costs at most one
poll interval: a worker claims every ``poll_interval_seconds`` even if never woken, and the
heartbeat renews leases and hears cancels from the store every third of a lease.

``Done`` and ``Idle`` carry what the worker saw since its last such message (``figures``: job
ends, load times, batch sizes, busy time; see ``genq.metrics``), which the supervisor adds to
the API process's figures.
"""

from __future__ import annotations

import contextlib
import logging
import math
import pickle
import select
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from genq.metrics import Observation

log = logging.getLogger("genq.worker")

# Not slotted: a slotted dataclass pickles through Python-level __getstate__/__setstate__,
# which makes each message about twice as dear to send and read.


@dataclass(frozen=True)
class Wake:
    """A job was queued: claim now rather than at the next poll. Sent to one idle worker, or,
    when every worker is busy, to the next one that says it is idle."""


@dataclass(frozen=True)
class Cancel:
    """Stop this job if it is in hand. Sent to every worker: the one that just claimed the
    job may not have said so yet. A worker that still holds the job after the cancel grace
    period is killed."""

    job_id: str


@dataclass(frozen=True)
class Stop:
    """Finish the jobs in hand, claim no more, and exit."""


@dataclass(frozen=True)
class Idle:
    """Nothing to claim: the worker holds no job, and waits to be woken (or for its next
    poll)."""

    figures: tuple[Observation, ...] = ()


@dataclass(frozen=True)
class Busy:
    """The worker holds this job now: its claim is committed."""

    job_id: str
    #: When its timeout ends (``time.time()``): a worker that still holds it a cancel grace
    #: period later is killed. None: it has no timeout.
    timeout_at: float | None = None


@dataclass(frozen=True)
class Changed:
    """The worker's store committed a change of the job (progress, text, log lines): the
    store has it already. A claim and an end are told by ``Busy`` and ``Done``."""

    job_id: str


@dataclass(frozen=True)
class Done:
    """The worker no longer holds this job: its end is committed (or could not be)."""

    job_id: str
    figures: tuple[Observation, ...] = ()


ToWorker = Wake | Cancel | Stop
ToSupervisor = Idle | Busy | Changed | Done


class Hub:
    """The worker's end of the supervisor pipe (absent for a worker run on its own)."""

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._told_later = threading.local()
        #: What the worker saw since its last ``Done`` or ``Idle``, which carries it.
        self._figures: list[Observation] = []
        # ``Connection.poll`` builds a selector for every call: one poll object serves all.
        self._poller = select.poll()
        if conn is not None:
            self._poller.register(conn.fileno(), select.POLLIN)

    def readable(self, timeout: float) -> bool:
        """Whether the supervisor's next message (or the pipe's end) can be read, waiting up
        to ``timeout`` s for it."""
        return bool(self._poller.poll(math.ceil(timeout * 1000)))

    def send(self, message: ToSupervisor) -> None:
        if self.conn is None:
            return
        # If the supervisor is gone, the lifeline thread ends this process (see lifeline.py).
        with self._lock, contextlib.suppress(OSError):
            if self._figures and isinstance(message, Done | Idle):
                message = replace(message, figures=tuple(self._figures))
                self._figures.clear()
            self.conn.send(message)

    def observe(self, *observations: Observation) -> None:
        """Keep figures for the next ``Done`` or ``Idle`` (none without a supervisor)."""
        if self.conn is None or not observations:
            return
        with self._lock:
            self._figures.extend(observations)

    def changed(self, job_id: str) -> None:
        """The store committed a change of the job: say so, unless the ``Busy`` or ``Done``
        this thread sends next tells it (``told_later``)."""
        if not getattr(self._told_later, "on", False):
            self.send(Changed(job_id))

    @contextlib.contextmanager
    def told_later(self) -> Iterator[None]:
        """The changes this thread commits in this block (a claim, an end) are told by the
        ``Busy`` or ``Done`` it sends after it: one message per change, not two."""
        self._told_later.on = True
        try:
            yield
        finally:
            self._told_later.on = False


class Inbox:
    """A worker's messages as the supervisor reads them: whatever its pipe holds, taken in
    one read and cut into messages here (``Connection.recv`` costs a poll and two reads per
    message). The frames are ``Connection.send``'s: a 4-byte big-endian length (or -1 and an
    8-byte one), then the pickle."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[ToSupervisor]:
        """The messages that ``data`` completes, in order (a partial one waits for more)."""
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        while len(buffer) - start >= 4:
            (size,) = struct.unpack_from("!i", buffer, start)
            head = 4
            if size == -1:
                if len(buffer) - start < 12:
                    break
                (size,) = struct.unpack_from("!Q", buffer, start + 4)
                head = 12
            end = start + head + size
            if len(buffer) < end:
                break
            body, start = slice(start + head, end), end
            try:
                messages.append(pickle.loads(memoryview(buffer)[body]))
            except Exception:  # one bad frame is dropped, not read again with every later one
                log.exception("a worker message could not be read; dropped")
        del buffer[:start]
        return messages
