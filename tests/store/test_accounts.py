"""The store's accounts, keys and sign-in tokens beyond the contract's basics, on SQLite and
PostgreSQL: admin accounts, credits added, keys scoped to an account, a key's last use, and
one-time tokens taken once however many try at once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from genq.credits import MAX_MICROS, from_micros
from genq.errors import Clash, ValidationFailed
from genq.jobs import AccountLimits
from genq.store import JobStore

T0 = 1_700_000_000.0


def test_a_new_account_refuses_a_taken_name(fresh_store: JobStore) -> None:
    """create_account makes an account, admin or not, and returns None for a taken name."""
    made = fresh_store.create_account("acme", Decimal("1.5"), T0, admin=True)
    assert made is not None
    assert (made.name, made.credits, made.admin) == ("acme", Decimal("1.5"), True)
    assert fresh_store.create_account("acme", None, T0) is None
    assert fresh_store.find_account("acme") == made
    assert fresh_store.find_account("nobody") is None


def test_ensure_account_with_admin_makes_an_admin(fresh_store: JobStore) -> None:
    """An account is not an admin one unless asked; asked later, it becomes one."""
    plain = fresh_store.ensure_account("acme", None, T0)
    assert plain.admin is False
    assert fresh_store.ensure_account("acme", None, T0).admin is False
    assert fresh_store.ensure_account("acme", None, T0, admin=True).admin is True
    again = fresh_store.get_account(plain.id)
    assert again is not None
    assert again.admin is True


def test_credits_are_added_to_limited_accounts_only(fresh_store: JobStore) -> None:
    """add_credits raises a balance exactly; no limit is a Clash, no account None, and no
    balance passes the most a column holds."""
    acme = fresh_store.ensure_account("acme", Decimal("0.1"), T0)
    raised = fresh_store.add_credits(acme.id, Decimal("0.2"))
    assert raised is not None
    assert raised.credits == Decimal("0.3")
    free = fresh_store.ensure_account("free", None, T0)
    with pytest.raises(Clash) as clash:
        fresh_store.add_credits(free.id, Decimal(1))
    assert clash.value.code == "unlimited_account"
    assert fresh_store.add_credits("acct_nope", Decimal(1)) is None
    with pytest.raises(ValidationFailed):
        fresh_store.add_credits(acme.id, from_micros(MAX_MICROS))
    assert fresh_store.add_credits(acme.id, from_micros(MAX_MICROS - 300_000)) is not None


def test_a_keys_changes_can_be_limited_to_its_account(fresh_store: JobStore) -> None:
    """list_keys, set_key_disabled and delete_key with an account touch its keys only."""
    alice = fresh_store.ensure_account("alice", None, T0)
    bob = fresh_store.ensure_account("bob", None, T0)
    fresh_store.create_key("key_a", alice.id, None, "ha", "pa", T0)
    fresh_store.create_key("key_b", bob.id, None, "hb", "pb", T0 + 1)
    assert [k.id for k in fresh_store.list_keys(alice.id)] == ["key_a"]
    assert fresh_store.set_key_disabled("key_b", True, account_id=alice.id) is None
    assert fresh_store.delete_key("key_b", account_id=alice.id) is None
    found = fresh_store.find_key("hb")
    assert found is not None
    assert found.disabled is False
    changed = fresh_store.set_key_disabled("key_b", True, account_id=bob.id)
    assert changed is not None
    assert (changed.disabled, changed.account_name, changed.key_hash) == (True, "bob", "hb")
    summaries = {s.account.name: s for s in fresh_store.list_accounts()}
    assert (summaries["alice"].keys, summaries["bob"].keys) == (1, 1)


def test_a_key_found_by_its_hash_carries_its_accounts_limits(fresh_store: JobStore) -> None:
    """find_key (and read_key, the read that authenticates: test_reads compares the two)
    brings the account's limits along, so the rate limit needs no read of its own; a listed
    key has none."""
    alice = fresh_store.ensure_account("alice", None, T0)
    fresh_store.create_key("key_a", alice.id, None, "ha", "pa", T0)
    fresh_store.set_account_limits(alice.id, {"rate_per_second": 2.5, "rate_burst": 0})
    found = fresh_store.find_key("ha")
    assert found is not None
    assert found.limits == AccountLimits(rate_per_second=2.5, rate_burst=0)
    assert [k.limits for k in fresh_store.list_keys(alice.id)] == [None]


def test_a_keys_use_is_recorded_at_most_once_per_interval(fresh_store: JobStore) -> None:
    """touch_key records the time unless the recorded one is less than ``every`` old."""
    alice = fresh_store.ensure_account("alice", None, T0)
    fresh_store.create_key("key_a", alice.id, None, "ha", "pa", T0)
    fresh_store.touch_key("key_a", T0 + 10, 60)
    fresh_store.touch_key("key_a", T0 + 50, 60)
    assert [k.last_used_at for k in fresh_store.list_keys()] == [T0 + 10]
    fresh_store.touch_key("key_a", T0 + 71, 60)
    assert [k.last_used_at for k in fresh_store.list_keys()] == [T0 + 71]


def test_a_sign_in_token_is_taken_once_before_it_expires(fresh_store: JobStore) -> None:
    """take_sign_in gives the token's account once; an expired or unknown token gives None."""
    alice = fresh_store.ensure_account("alice", None, T0)
    fresh_store.create_sign_in("h1", alice.id, T0, T0 + 600)
    fresh_store.create_sign_in("h2", alice.id, T0, T0 + 600)
    assert fresh_store.take_sign_in("h1", T0 + 599) == alice.id
    assert fresh_store.take_sign_in("h1", T0 + 599) is None
    assert fresh_store.take_sign_in("h2", T0 + 600) is None
    assert fresh_store.take_sign_in("unknown", T0) is None


def test_a_sign_in_token_taken_at_once_by_many_goes_to_one(fresh_store: JobStore) -> None:
    """Threads that take the same token together: exactly one gets the account."""
    alice = fresh_store.ensure_account("alice", None, T0)
    fresh_store.create_sign_in("h1", alice.id, T0, T0 + 600)
    start = threading.Barrier(6)
    taken: list[str | None] = []

    def take() -> None:
        start.wait()
        taken.append(fresh_store.take_sign_in("h1", T0 + 1))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (taken.count(alice.id), taken.count(None)) == (1, 5)
