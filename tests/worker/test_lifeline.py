"""A worker's check that its supervisor lives: asked by the claim loop before every claim and
by the lifeline thread at once, it answers each of them."""

from __future__ import annotations

import multiprocessing
import os
import threading
from types import SimpleNamespace

import pytest

from genq.worker import lifeline


def test_the_claim_loop_and_the_lifeline_may_ask_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads asking whether the supervisor lives, over and over at the same time, are
    each told that it does: neither meets an error."""
    read_end, write_end = os.pipe()
    parent = SimpleNamespace(pid=os.getppid(), sentinel=read_end)
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: parent)
    errors: list[BaseException] = []
    answers: list[bool] = []

    def ask() -> None:
        try:
            for _ in range(20_000):
                if not lifeline.supervisor_alive():
                    answers.append(False)
        except BaseException as exc:  # any error is what this test looks for
            errors.append(exc)

    try:
        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        # The poll object kept for this sentinel must not outlive its file descriptor.
        lifeline._sentinel_poller.cache_clear()
        os.close(read_end)
        os.close(write_end)
    assert errors == []
    assert answers == []
