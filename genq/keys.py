"""API keys: made here, stored only as hashes, looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from decimal import Decimal

from genq.jobs import ApiKey
from genq.store import JobStore

KEY_PREFIX = "gq_"


def hash_key(raw: str) -> str:
    # Keys carry 256 random bits, so one SHA-256 is enough: no salt or slow hash needed.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(
    store: JobStore, account: str, *, name: str | None = None, credits: Decimal | None = None
) -> tuple[ApiKey, str]:
    """Make a key for ``account`` (created if new); returns the stored key and the plain one."""
    now = time.time()
    acct = store.ensure_account(account, credits, now)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = store.create_key(
        f"key_{uuid.uuid4().hex[:12]}", acct.id, name, hash_key(raw), raw[:10], now
    )
    return key, raw
