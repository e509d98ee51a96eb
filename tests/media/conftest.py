"""Fixtures shared by the reference tests: made-up DNS answers."""

from __future__ import annotations

import pytest

from genq.media import fetch
from tests.media.network import FakeDNS


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    """``.test`` host names resolve as the test says, through the fetch's own resolver hook."""
    fake = FakeDNS()
    monkeypatch.setattr(fetch, "_resolve", fake.resolve)
    return fake
