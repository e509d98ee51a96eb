"""A worker's pulse: every third of a lease it says it is alive, renews the leases of the
jobs it runs, and stops those the store says to stop (canceled, or no longer its own)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from genq.store import JobStore
from genq.worker.context import InHand

log = logging.getLogger("genq.worker")


class Heartbeat:
    def __init__(
        self, store: JobStore, in_hand: InHand, register: Callable[[], None], lease: float
    ) -> None:
        self.store = store
        self.in_hand = in_hand
        #: Says the worker is alive (and which models it serves).
        self.register = register
        self.lease = lease
        self._exited = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Beat on a thread of its own until ``stop``."""
        # One event per thread: a worker may run again (in burst mode) after a stop.
        self._exited = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(self._exited,), name="genq-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Beat no more (the worker exits); returns once the thread has ended."""
        self._exited.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self, exited: threading.Event) -> None:
        while not exited.wait(self.lease / 3):
            ctxs = self.in_hand.running()
            try:
                self.register()
                if not ctxs:
                    continue
                stop = self.store.heartbeat([ctx.claim for ctx in ctxs], time.time(), self.lease)
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            for ctx in ctxs:
                if ctx.job_id in stop:
                    ctx.stop.set()
