"""A worker never outlives its supervisor: when the supervisor dies, even by SIGKILL, each of
its workers notices at once, hands its jobs back and exits.

The signal is the pipe that ``multiprocessing`` gives every process it starts: the parent
holds its write end, and the kernel closes that when the parent exits, however it dies. A
thread waits on it, so a model busy in a long call does not delay the notice. The parent pid
is checked too, in case a process the parent started kept a copy of that end open.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) is not used: a signal that kills
outright leaves the job to wait for its lease to lapse, a handled one runs only when the main
thread is free (no sooner than this thread), and it fires when the thread that started the
worker ends, not the process.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import select
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess

log = logging.getLogger("genq.worker")

#: How often the parent pid is checked while the pipe stays open.
RECHECK_SECONDS = 1.0


def supervisor_alive() -> bool:
    """False once the process that started this one has exited (always True for a process
    that ``multiprocessing`` did not start). Asked before every claim: cheap."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return True
    return os.getppid() == parent.pid and not _sentinel_closed(parent.sentinel)


@functools.cache
def _sentinel_poller(sentinel: int) -> select.poll:
    # ``BaseProcess.is_alive`` builds a selector for every call: one poll object serves all.
    poller = select.poll()
    poller.register(sentinel, select.POLLIN)
    return poller


#: A poll object refuses a second thread while one polls it (``RuntimeError``), and the
#: claim loop and the lifeline thread both ask.
_sentinel_lock = threading.Lock()


def _sentinel_closed(sentinel: int) -> bool:
    """Whether the parent's end of the sentinel pipe is closed (it never writes to it)."""
    with _sentinel_lock:
        return bool(_sentinel_poller(sentinel).poll(0))


def watch_supervisor(
    on_gone: Callable[[], None], *, recheck: float = RECHECK_SECONDS
) -> threading.Thread | None:
    """Call ``on_gone`` on a daemon thread as soon as the process that started this one has
    exited. None (and no thread) when ``multiprocessing`` did not start this process."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    thread = threading.Thread(target=_watch, args=(parent, on_gone, recheck), name="genq-lifeline")
    thread.daemon = True
    thread.start()
    return thread


def _watch(parent: BaseProcess, on_gone: Callable[[], None], recheck: float) -> None:
    while supervisor_alive():
        parent.join(recheck)
    log.warning("the supervisor (pid %s) is gone", parent.pid)
    on_gone()
