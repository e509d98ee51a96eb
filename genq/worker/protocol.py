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
``Idle()``                 worker → supervisor  nothing to claim: wake me when a job comes
``Busy(job_id)``           worker → supervisor  the job is in hand (its model call begins)
``Changed(job_id)``        worker → supervisor  the worker's store committed a change of the job
                                                (claim, progress, text, logs, its end)
``Done(job_id)``           worker → supervisor  the job is no longer in hand
=========================  ===================  ==============================================

The supervisor publishes each ``Changed`` on the job's topic (with PostgreSQL the store
announces to every process itself, and no ``Changed`` is sent). It reads a worker's first
message as a sign it started well, and ``Busy``/``Done`` to know which worker to kill when a
cancel is not obeyed in time.

The store is the truth; the pipe only makes things fast. A lost message costs at most one
poll interval: a worker claims every ``poll_interval_seconds`` even if never woken, and the
heartbeat renews leases and hears cancels from the store every third of a lease.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

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


@dataclass(frozen=True)
class Busy:
    """The worker holds this job now: its model call begins."""

    job_id: str


@dataclass(frozen=True)
class Changed:
    """The worker's store committed a change of the job (its claim, progress, text, log
    lines, its end): the store has it already."""

    job_id: str


@dataclass(frozen=True)
class Done:
    """The worker no longer holds this job: its end is recorded (or could not be)."""

    job_id: str


ToWorker = Wake | Cancel | Stop
ToSupervisor = Idle | Busy | Changed | Done


class Hub:
    """The worker's end of the supervisor pipe (absent for a worker run on its own)."""

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: ToSupervisor) -> None:
        if self.conn is None:
            return
        # If the supervisor is gone, the lifeline thread ends this process (see lifeline.py).
        with self._lock, contextlib.suppress(OSError):
            self.conn.send(message)
