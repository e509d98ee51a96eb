"""Requests per second per key: the token bucket, its 429 and headers on every authenticated
route (native and dialects), the account's own limits, the routes it leaves alone, and two
API processes on PostgreSQL sharing one limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from genq.errors import RequestRateExceeded
from genq.jobs import AccountLimits, ApiKey
from genq.keys import create_key
from genq.metrics import REGISTRY
from genq.server import build_app
from genq.service import JobService
from genq.service.keys import KEY_TTL_SECONDS
from genq.service.rate_limits import Quota, RateLimiter
from genq.settings import Settings
from genq.store import JobStore, open_store
from tests.conftest import Backend
from tests.pg import drop_schema, new_schema, store_url

#: An answer of Starlette's test client.
Answer = Any


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(key_id: str = "key_a", limits: AccountLimits | None = None) -> ApiKey:
    return ApiKey(key_id, "acct_a", "a", None, "gq_a", False, 0.0, limits=limits)


# -- the bucket -------------------------------------------------------------------------------
def test_a_burst_then_one_request_per_token() -> None:
    """A full bucket lets ``burst`` requests through at once, then one per ``1/rate`` seconds;
    a refusal says how long until the next token, in whole seconds, at least 1."""
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    left = [limiter.take(key()) for _ in range(3)]
    assert [(a.limit, a.remaining) for a in left if a] == [(3, 2), (3, 1), (3, 0)]
    assert left[-1] is not None
    assert left[-1].reset == 2  # 3 tokens at 2 a second
    with pytest.raises(RequestRateExceeded) as refused:
        limiter.take(key())
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.headers["RateLimit-Remaining"] == "0"
    clock.now += 0.5
    assert limiter.take(key()) is not None
    with pytest.raises(RequestRateExceeded):
        limiter.take(key())
    clock.now += 10  # idle: the bucket fills up to its burst, no further
    assert [limiter.take(key()) is not None for _ in range(3)] == [True] * 3
    with pytest.raises(RequestRateExceeded):
        limiter.take(key())


def test_a_slow_rate_asks_for_a_longer_wait() -> None:
    """At one request every ten seconds, Retry-After says ten seconds."""
    limiter = RateLimiter(0.1, 1, clock=Clock())
    limiter.take(key())
    with pytest.raises(RequestRateExceeded) as refused:
        limiter.take(key())
    assert refused.value.headers["Retry-After"] == "10"


def test_the_quota_of_a_key() -> None:
    """The account's own rate and burst win over the settings; 0 for either is no limit;
    without a burst anywhere it is twice the rate, at least 1; with N processes each has its
    share of both (the burst rounded up)."""
    limiter = RateLimiter(10.0, None)
    assert limiter.quota(None) == Quota(10.0, 20)
    assert limiter.quota(AccountLimits()) == Quota(10.0, 20)
    assert limiter.quota(AccountLimits(rate_per_second=0.2)) == Quota(0.2, 1)
    assert limiter.quota(AccountLimits(rate_burst=5)) == Quota(10.0, 5)
    assert limiter.quota(AccountLimits(rate_per_second=0)) is None
    assert limiter.quota(AccountLimits(rate_burst=0)) is None
    assert RateLimiter(None, 5).quota(None) is None
    assert RateLimiter(None, 5).quota(AccountLimits(rate_per_second=1.0)) == Quota(1.0, 5)
    assert RateLimiter(10.0, 5, processes=2).quota(None) == Quota(5.0, 3)


def test_keys_have_buckets_of_their_own() -> None:
    """One key's spent bucket leaves another key's, of the same account, untouched."""
    limiter = RateLimiter(1.0, 1, clock=Clock())
    limiter.take(key("key_a"))
    with pytest.raises(RequestRateExceeded):
        limiter.take(key("key_a"))
    assert limiter.take(key("key_b")) is not None


def test_new_limits_apply_to_the_bucket_a_key_has() -> None:
    """A key read again with other limits keeps its tokens, up to the new burst; with no
    limit it is let through."""
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    small = AccountLimits(rate_per_second=1.0, rate_burst=2)
    limiter.take(key(limits=small))
    limiter.take(key(limits=small))
    with pytest.raises(RequestRateExceeded):
        limiter.take(key(limits=AccountLimits(rate_per_second=1.0, rate_burst=10)))
    assert limiter.take(key(limits=AccountLimits(rate_per_second=0))) is None
    assert limiter.take(key(limits=AccountLimits())) is None


def test_idle_buckets_go_first_when_there_are_too_many() -> None:
    """Past ``size`` buckets, the full ones go (a new bucket would equal them), so busy keys
    keep their count."""
    clock = Clock()
    limiter = RateLimiter(1.0, 2, size=4, clock=clock)
    for n in range(3):
        limiter.take(key(f"idle_{n}"))
    clock.now += 5
    limiter.take(key("busy"))
    limiter.take(key("busy"))
    limiter.take(key("new"))
    with pytest.raises(RequestRateExceeded):
        limiter.take(key("busy"))
    assert set(limiter._buckets) == {"busy", "new"}


# -- in process, on each engine ---------------------------------------------------------------
@dataclass
class Api:
    """An in-process server (no workers) with a rate limit, and its store."""

    client: TestClient
    store: JobStore
    key: str

    def get(self, path: str, key: str | None = None) -> Answer:
        return self.client.get(path, headers={"Authorization": f"Bearer {key or self.key}"})

    def new_key(self, account: str) -> tuple[str, str]:
        """A key of ``account`` (made if need be): its account id and the plain key."""
        made, raw = create_key(self.store, account)
        return made.account_id, raw

    def set_rate(self, account_id: str, rate: float | None, burst: int | None) -> None:
        changes = {"rate_per_second": rate, "rate_burst": burst}
        assert self.store.set_account_limits(account_id, changes) is not None


@pytest.fixture
def api(backend_name: str, tmp_path: Path) -> Iterator[Api]:
    limits: dict[str, Any] = {"rate_limit_per_second": 2.0, "rate_limit_burst": 3}
    schema = new_schema("rate") if backend_name == "postgres" else None
    db: dict[str, Any] = {} if schema is None else {"db": store_url(schema)}
    app = build_app(Settings(data_dir=tmp_path, **limits, **db), workers=False)
    service: JobService = app.state.service
    _, raw = create_key(service.store, "default", admin=True)
    try:
        with TestClient(app) as client:
            yield Api(client, service.store, raw)
    finally:
        if schema is not None:
            drop_schema(schema)


def refused(answer: Answer) -> int:
    """The Retry-After of a 429 answer, checked whole and at least 1."""
    assert answer.status_code == 429, answer.text
    wait = int(answer.headers["retry-after"])
    assert wait >= 1
    assert answer.headers["ratelimit-remaining"] == "0"
    return wait


def refusals() -> float:
    return REGISTRY.get_sample_value("genq_rate_limited_total") or 0.0


def test_a_burst_then_429_whose_retry_after_works(api: Api) -> None:
    """Three requests at once pass with what is left in RateLimit-* headers, the fourth is
    429 rate_limited with Retry-After, and a request after that wait passes."""
    before = refusals()
    answers = [api.get("/v1/jobs") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["ratelimit-limit"] for a in answers] == ["3"] * 3
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
    assert all(1 <= int(a.headers["ratelimit-reset"]) <= 2 for a in answers)
    answer = api.get("/v1/jobs")
    wait = refused(answer)
    assert answer.json()["error"]["code"] == "rate_limited"
    assert answer.headers["ratelimit-limit"] == "3"
    assert "x-request-id" in answer.headers
    assert refusals() == before + 1
    time.sleep(wait)
    assert api.get("/v1/jobs").status_code == 200


def test_each_key_has_its_own_limit(api: Api) -> None:
    """A key that spent its burst leaves another key of the same account, and a key of
    another account, free to ask."""
    _, same = api.new_key("default")
    _, other = api.new_key("other")
    for _ in range(3):
        api.get("/v1/account")
    refused(api.get("/v1/account"))
    assert api.get("/v1/account", same).status_code == 200
    assert api.get("/v1/account", other).status_code == 200


def test_an_accounts_own_limit(api: Api) -> None:
    """An account's own rate and burst win over the settings (taken up within the key
    cache's second), and its rate 0 lifts the limit altogether."""
    account_id, raw = api.new_key("own")
    api.set_rate(account_id, 1.0, 5)
    answers = [api.get("/v1/jobs", raw) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].headers["ratelimit-limit"] == "5"
    refused(api.get("/v1/jobs", raw))
    api.set_rate(account_id, 0, None)
    time.sleep(KEY_TTL_SECONDS + 0.1)
    answers = [api.get("/v1/jobs", raw) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert "ratelimit-limit" not in answers[-1].headers


def test_a_dialect_answers_429_in_its_own_shape(api: Api) -> None:
    """NetMind's routes count against the key's limit and answer its 429 as NetMind answers
    errors, with the same headers."""
    for _ in range(3):
        answer = api.get("/v1/generation/nope")
        assert answer.status_code == 404
        assert "ratelimit-remaining" in answer.headers
    answer = api.get("/v1/generation/nope")
    refused(answer)
    body = answer.json()
    assert body["code"] == "rate_limited"
    assert "retry in" in body["detail"]
    refused(api.get("/api/v1/tasks/nope"))  # MindVideo: the same key's bucket
    assert api.get("/api/v1/tasks/nope").json()["error"]["code"] == "rate_limited"


def test_health_metrics_and_the_console_are_not_limited(api: Api) -> None:
    """/healthz, /readyz, /metrics (with an admin key) and the console's page never count
    against a key nor carry RateLimit headers."""
    for path in ("/healthz", "/readyz", "/metrics", "/"):
        answers = [api.get(path) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 6, path
        assert "ratelimit-limit" not in answers[-1].headers, path
    assert api.get("/v1/jobs").headers["ratelimit-remaining"] == "2"


def test_no_limit_by_default(tmp_path: Path) -> None:
    """Without the settings a key is never limited and its answers carry no RateLimit
    headers."""
    app = build_app(Settings(data_dir=tmp_path), workers=False)
    _, raw = create_key(app.state.service.store, "default")
    with TestClient(app) as client:
        answers = [client.get("/v1/jobs", headers={"x-api-key": raw}) for _ in range(30)]
    assert [a.status_code for a in answers] == [200] * 30
    assert "ratelimit-limit" not in answers[-1].headers


# -- two API processes on PostgreSQL ----------------------------------------------------------
@pytest.mark.backends("postgres")
def test_two_api_processes_share_the_limit(
    make_server: Any, backend: Backend, tmp_path: Path
) -> None:
    """With ``rate_limit_processes = 2`` each of two API processes allows a key half the rate
    and half the burst: together, requests sent to both as fast as they answer pass at no more
    than the key's rate plus its burst (each process's burst rounded up), the documented
    tolerance, and at no less than the rate."""
    rate, burst = 20.0, 10
    settings = {"workers": 0, "rate_limit_per_second": rate, "rate_limit_burst": burst}
    schema = new_schema("rate")
    backend.schemas.append(schema)
    assert backend.s3 is not None
    shared = {"db": store_url(schema), "storage": f"s3://{backend.s3.create_bucket()}/results"}
    # The database set up, with one key that both servers take as their own; then they are
    # started side by side (a process takes seconds to import genq).
    store = open_store(shared["db"])
    try:
        _, raw = create_key(store, "default", admin=True)
    finally:
        store.close()
    for name in "ab":
        (tmp_path / name).mkdir()
        (tmp_path / name / "api-key").write_text(raw)
    with ThreadPoolExecutor(2) as pool:
        started = pool.map(
            lambda name: make_server(name, rate_limit_processes=2, **settings, **shared), "ab"
        )
        first, second = list(started)
    passed = [0, 0]
    with first.client() as a, second.client() as b:
        begun = time.monotonic()
        while time.monotonic() - begun < 2.0:
            for n, client in enumerate((a, b)):
                answer = client.get("/v1/account")
                assert answer.status_code in (200, 429), answer.text
                passed[n] += answer.status_code == 200
        elapsed = time.monotonic() - begun
    each = -(-burst // 2) + rate / 2 * elapsed
    assert all(count <= each + 1 for count in passed), (passed, elapsed)
    assert sum(passed) <= burst + 1 + rate * elapsed + 1, (passed, elapsed)
    assert sum(passed) >= rate * (elapsed - 0.5), (passed, elapsed)
