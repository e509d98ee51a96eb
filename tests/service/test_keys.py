"""The service's key check: a known, enabled key is remembered for at most a second, so a key
disabled or deleted by another process is refused within that second; unknown and disabled
keys are never remembered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from genq.errors import Unauthorized
from genq.jobs import ApiKey
from genq.keys import create_key, hash_key
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.service.keys import KEY_TTL_SECONDS, KeyCache
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import open_store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> tuple[JobService, Clock, Settings]:
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings.db_url)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    service = JobService(settings, store, storage, ModelRegistry(settings.models), LocalNotifier())
    clock = Clock()
    service._keys = KeyCache(clock=clock)
    return service, clock, settings


def refusal(service: JobService, raw: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        asyncio.run(service.authenticate(raw))
    return refused.value.code


@pytest.mark.parametrize("action", ["disable", "delete"])
def test_a_key_changed_elsewhere_is_refused_within_a_second(setup, action: str) -> None:
    """Another process (here, another connection to the same database) disables or deletes
    a key this service has just accepted: accepted until its second is up, refused after."""
    service, clock, settings = setup
    elsewhere = open_store(settings.db_url)
    key, raw = create_key(elsewhere, "acme")
    assert asyncio.run(service.authenticate(raw)).id == key.id
    if action == "disable":
        elsewhere.set_key_disabled(key.id, True)
    else:
        elsewhere.delete_key(key.id)
    clock.now += KEY_TTL_SECONDS / 2
    assert asyncio.run(service.authenticate(raw)).id == key.id
    clock.now += KEY_TTL_SECONDS / 2 + 0.001
    assert refusal(service, raw) == ("key_disabled" if action == "disable" else "unauthorized")


def test_unknown_and_disabled_keys_are_not_remembered(setup) -> None:
    """A key unknown or disabled when first tried is accepted as soon as it exists or is
    enabled again: a refusal is never kept."""
    service, _, settings = setup
    elsewhere = open_store(settings.db_url)
    key, raw = create_key(elsewhere, "acme")
    elsewhere.set_key_disabled(key.id, True)
    assert refusal(service, raw) == "key_disabled"
    elsewhere.set_key_disabled(key.id, False)
    assert asyncio.run(service.authenticate(raw)).id == key.id
    assert refusal(service, "gq_not_a_key") == "unauthorized"
    assert service._keys.get(hash_key("gq_not_a_key")) is None


def test_a_key_read_while_a_key_is_forgotten_is_not_kept() -> None:
    """A read that began before a key was forgotten (disabled or deleted here) may hold the
    key as it was: it is not kept, so the change holds at once; a later read is kept."""
    cache = KeyCache()
    key = ApiKey("key_1", "acct_1", "acme", None, "gq_", disabled=False, created_at=0.0)
    cache.keep("h1", key, cache.ticket())
    ticket = cache.ticket()
    cache.forget("h1")
    assert cache.get("h1") is None
    cache.keep("h1", key, ticket)
    assert cache.get("h1") is None
    cache.keep("h1", key, cache.ticket())
    assert cache.get("h1") == key
