"""How many jobs share a model call: those queued with the same batch key, up to the model's
``max_batch``, gathered for at most its batch wait; halved for a model that ran out of memory
twice in a row."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from genq.errors import StoreUnavailable
from genq.jobs import Claim
from genq.models.registry import ModelRegistry, RegisteredModel

if TYPE_CHECKING:
    from genq.worker.claims import ClaimLoop

log = logging.getLogger("genq.worker")


class Batching:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        #: Model name -> a lower batch limit after repeated out-of-memory errors.
        self._limits: dict[str, int] = {}
        self._oom_streak: dict[str, int] = {}

    def limit(self, registered: RegisteredModel) -> int:
        return min(registered.max_batch, self._limits.get(registered.name, 1 << 30))

    def fill(self, first: Claim, claims: ClaimLoop) -> list[Claim]:
        """``first`` and the queued jobs that may share its model call, waiting up to the
        model's batch wait for companions (never longer, so a lone job is barely delayed)."""
        key = first.job.batch_key
        if key is None:
            return [first]
        registered = self.registry.get(first.job.model)
        limit = self.limit(registered)
        batch = [first]
        deadline = time.monotonic() + registered.batch_wait
        while len(batch) < limit:
            try:
                batch += claims.claim([registered.name], limit=limit - len(batch), batch_key=key)
            except StoreUnavailable:
                break
            left = deadline - time.monotonic()
            if len(batch) >= limit or left <= 0:
                break
            # A wake from the supervisor (a job was queued) ends the wait early.
            claims.receive(min(left, 0.002))
        return batch

    def succeeded(self, registered: RegisteredModel) -> None:
        """The model's call went through: its out-of-memory streak is over."""
        self._oom_streak.pop(registered.name, None)

    def out_of_memory(self, registered: RegisteredModel) -> None:
        """The model's call ran out of memory: twice in a row, and its batches are halved."""
        streak = self._oom_streak.get(registered.name, 0) + 1
        self._oom_streak[registered.name] = streak
        limit = self.limit(registered)
        if streak >= 2 and limit > 1:
            # Twice in a row: this model's batches are too big for the memory left.
            self._limits[registered.name] = limit // 2
            self._oom_streak[registered.name] = 0
            log.warning(
                "model %s ran out of memory twice: batches of at most %d from now on",
                registered.name,
                limit // 2,
            )


def is_out_of_memory(exc: BaseException) -> bool:
    """Host or accelerator memory ran out (torch's CUDA error without importing torch)."""
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or "out of memory" in str(exc).lower()
    )
