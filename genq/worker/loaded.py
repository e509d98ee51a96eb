"""The models a worker process keeps loaded: set up on first use, kept between jobs, and
evicted least recently used first when loading another would pass the memory budget."""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

from genq.metrics import Observation
from genq.models.registry import RegisteredModel

log = logging.getLogger("genq.worker")

GIB = 1024**3


def default_budget() -> int:
    """Bytes of model memory a worker may hold when the operator set no budget: most of the
    GPU when torch is in use and sees one, else half the machine's RAM."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory * 0.85)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)
    except (ValueError, OSError):
        return 16 * GIB


def _unobserved(*observations: Observation) -> None:
    pass


class LoadedModels:
    def __init__(
        self,
        budget_bytes: int | None,
        observe: Callable[..., None] = _unobserved,
    ) -> None:
        self._budget = budget_bytes
        #: Told of each load (its time and outcome) and eviction (``genq.metrics``).
        self._observe = observe
        #: Model name -> the model, least recently used first.
        self._loaded: OrderedDict[str, RegisteredModel] = OrderedDict()

    @property
    def budget(self) -> int:
        # Read late: torch is imported by the first model that needs it.
        return self._budget if self._budget is not None else default_budget()

    def names(self) -> list[str]:
        return list(self._loaded)

    def use(self, registered: RegisteredModel) -> bool:
        """Make sure ``registered`` is set up, making room for it first; returns whether it
        was loaded now (False: it was loaded already). Raises what its ``setup`` raised (the
        model then stays unloaded)."""
        name = registered.name
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return False
        self._make_room(registered.model.memory_bytes())
        started = time.perf_counter()
        try:
            registered.model.setup()
        except BaseException:
            self._observe(("loaded", (name, "failed"), 1))
            raise
        took = time.perf_counter() - started
        self._observe(("loaded", (name, "ok"), 1), ("load", (name,), took))
        self._loaded[name] = registered
        # The estimate may have been low: the model's real size decides who else stays.
        self._make_room(0)
        return True

    def _make_room(self, incoming: int) -> None:
        budget = self.budget
        while self._loaded and self._held() + incoming > budget:
            name, victim = self._loaded.popitem(last=False)
            if not self._loaded and incoming == 0:
                # The only model left is the one just loaded: keep it, over budget or not.
                self._loaded[name] = victim
                return
            log.info("unloading model %s to stay within %.1f GiB", name, budget / GIB)
            self._observe(("evicted", (name,), 1))
            self._unload(victim)

    def _held(self) -> int:
        return sum(m.model.memory_bytes() for m in self._loaded.values())

    def close(self) -> None:
        while self._loaded:
            self._unload(self._loaded.popitem()[1])

    @staticmethod
    def _unload(victim: RegisteredModel) -> None:
        try:
            victim.model.teardown()
        except Exception:
            log.exception("unloading model %s failed", victim.name)
        gc.collect()
        free_accelerator_cache()


def free_accelerator_cache() -> None:
    """Give cached GPU memory back (without importing torch where no model did)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
