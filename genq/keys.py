"""API keys and the console's one-time sign-in tokens: made here, stored only as hashes,
looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from decimal import Decimal

from genq.jobs import ApiKey
from genq.store import JobStore

KEY_PREFIX = "gq_"
#: How long a console sign-in link works (once).
SIGN_IN_SECONDS = 600.0


def hash_key(raw: str) -> str:
    # Keys and tokens carry 256 random bits, so one SHA-256 is enough: no salt or slow hash
    # needed.
    return hashlib.sha256(raw.encode()).hexdigest()


def new_key(store: JobStore, account_id: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Make a key for the account ``account_id``; returns the stored key and the plain one."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = store.create_key(
        f"key_{uuid.uuid4().hex[:12]}", account_id, name, hash_key(raw), raw[:10], time.time()
    )
    return key, raw


def create_key(
    store: JobStore,
    account: str,
    *,
    name: str | None = None,
    credits: Decimal | None = None,
    admin: bool = False,
) -> tuple[ApiKey, str]:
    """Make a key for ``account`` (created if new; made an admin account with ``admin``);
    returns the stored key and the plain one."""
    acct = store.ensure_account(account, credits, time.time(), admin=admin)
    return new_key(store, acct.id, name)


def new_sign_in_token(store: JobStore, account_id: str, now: float | None = None) -> str:
    """A one-time token that signs the console in to the account ``account_id`` for the next
    ``SIGN_IN_SECONDS`` (from ``now``): 32 random bytes, of which the store keeps the hash."""
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    store.create_sign_in(hash_key(token), account_id, now, now + SIGN_IN_SECONDS)
    return token


def sign_in_link(base_url: str, token: str) -> str:
    """The console's address that signs in with ``token``: in the fragment, which a browser
    never sends, so that no request line (and no log) holds it."""
    return f"{base_url.rstrip('/')}/#sign-in={token}"
