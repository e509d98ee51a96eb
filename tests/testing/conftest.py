"""What the tiny model tests share: a machine without a network."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("tiny models must load without the network")


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """No hub and no sockets, like a machine without internet access; one torch thread."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        # huggingface_hub reads the variable once, at import.
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        patch.setattr(socket.socket, "connect", _no_network)
        # A second thread gains nothing on tensors this small, and on a busy two-core machine
        # OpenMP's waiting makes every operation many times slower.
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
