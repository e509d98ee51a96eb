"""The account routes of the native API, in-process on each backend: the caller's account, its
keys and usage, the admin routes, and the console's one-time sign-in."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from genq.jobs import Account
from genq.keys import create_key, new_sign_in_token
from genq.server import build_app
from genq.service import JobService
from genq.service.core import KEY_USE_PRECISION
from genq.service.keys import KeyCache
from genq.settings import Settings
from genq.store import JobStore, NewJob
from tests.pg import drop_schema, new_schema, store_url

DAY = 86_400.0
#: An answer of Starlette's test client (whose HTTP library is not the one genq's tests use).
Answer = Any


@dataclass
class Api:
    """An in-process server, its store, and the plain key of its admin account ``default``."""

    client: TestClient
    store: JobStore
    service: JobService
    admin_key: str

    def as_(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> Answer:
        return self.client.get(path, headers=self.as_(key or self.admin_key), **kwargs)

    def post(self, path: str, key: str | None = None, **kwargs: Any) -> Answer:
        return self.client.post(path, headers=self.as_(key or self.admin_key), **kwargs)

    def delete(self, path: str, key: str | None = None) -> Answer:
        return self.client.delete(path, headers=self.as_(key or self.admin_key))

    def account(self, name: str, credits: Decimal | None = None) -> tuple[Account, str]:
        """A plain (not admin) account and a key of it."""
        key, raw = create_key(self.store, name, credits=credits)
        account = self.store.get_account(key.account_id)
        assert account is not None
        return account, raw


@contextlib.contextmanager
def running_api(backend_name: str, tmp_path: Path, name: str, **settings: Any) -> Iterator[Api]:
    """An in-process server with ``settings`` on ``backend_name`` (PostgreSQL: a schema of its
    own, prefixed ``name``) and an admin account ``default``."""
    schema = new_schema(name) if backend_name == "postgres" else None
    db: dict[str, Any] = {} if schema is None else {"db": store_url(schema)}
    app = build_app(Settings(data_dir=tmp_path, **settings, **db), workers=False)
    service: JobService = app.state.service
    _, raw = create_key(service.store, "default", admin=True)
    try:
        with TestClient(app) as client:
            yield Api(client, service.store, service, raw)
    finally:
        if schema is not None:
            drop_schema(schema)


@pytest.fixture
def api(backend_name: str, tmp_path: Path) -> Iterator[Api]:
    with running_api(backend_name, tmp_path, "acct") as api:
        yield api


def error_code(response: Answer, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def queue_job(store: JobStore, account: Account, estimate: str, created_at: float) -> str:
    job_id = f"job_{time.monotonic_ns()}"
    store.submit(
        NewJob(
            id=job_id,
            account_id=account.id,
            model="noop",
            input={},
            priority=0,
            metadata={},
            cost_estimate=Decimal(estimate),
            created_at=created_at,
            expires_at=time.time() + DAY,
        )
    )
    return job_id


def run_job(store: JobStore, account: Account, model: str, cost: str, created_at: float) -> None:
    """A job of ``model`` created at ``created_at`` that succeeded, costing ``cost``."""
    job_id = f"job_{time.monotonic_ns()}"
    store.submit(
        NewJob(
            id=job_id,
            account_id=account.id,
            model=model,
            input={},
            priority=0,
            metadata={},
            cost_estimate=Decimal(cost),
            created_at=created_at,
            expires_at=time.time() + DAY,
        )
    )
    (claim,) = store.claim("w1", [model], time.time(), 30.0)
    assert claim.job.id == job_id
    assert store.finish(claim, time.time(), cost_actual=Decimal(cost)) is not None


# -- the caller's account ------------------------------------------------------------------
def test_account_shows_balance_hold_and_calling_key(api: Api) -> None:
    """GET /v1/account gives the balance, what unfinished jobs hold (exactly), whether the
    account is an admin one, and the calling key as a key object."""
    account, raw = api.account("acme", Decimal("10"))
    queue_job(api.store, account, "0.25", time.time())
    queue_job(api.store, account, "0.000001", time.time())
    body = api.get("/v1/account", raw).json()
    assert body["key"]["current"] is True
    assert body["key"]["last_used_at"] is not None
    assert body["key"]["prefix"] == raw[:10]
    del body["key"]
    # Its limits and what they count (tests/http/test_account_limits_api.py).
    assert (body.pop("weight"), body.pop("usage")["queued"]) == (1.0, 2)
    assert body.pop("limits")["max_queued"] == {"value": None, "source": "default"}
    assert body == {
        "object": "account",
        "id": account.id,
        "name": "acme",
        "credits": 10,
        "held": 0.250001,
        "admin": False,
    }
    default = api.get("/v1/account").json()
    assert (default["name"], default["credits"], default["admin"]) == ("default", None, True)


def test_keys_are_listed_newest_first_with_the_current_one_marked(api: Api) -> None:
    """GET /v1/keys lists the account's keys only, newest first, never the keys themselves."""
    _, raw = api.account("acme")
    other_keys = [api.post("/v1/keys", raw, json={"name": f"k{n}"}).json() for n in range(2)]
    api.account("someone-else")
    listed = api.get("/v1/keys", raw).json()
    assert listed["object"] == "list"
    names = [key["name"] for key in listed["data"]]
    assert names == ["k1", "k0", None]
    assert [key["current"] for key in listed["data"]] == [False, False, True]
    assert {key["id"] for key in listed["data"]} >= {key["id"] for key in other_keys}
    assert set(listed["data"][0]) == {
        "object",
        "id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "disabled",
        "current",
    }


def test_a_new_key_is_shown_once_and_works(api: Api) -> None:
    """POST /v1/keys answers 201 with the plain key, which then authenticates for the same
    account; a body is optional."""
    account, raw = api.account("acme")
    made = api.post("/v1/keys", raw, json={"name": "laptop"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["object"], body["name"], body["disabled"], body["current"]) == (
        "key",
        "laptop",
        False,
        False,
    )
    assert body["key"].startswith("gq_")
    assert body["prefix"] == body["key"][:10]
    assert api.get("/v1/account", body["key"]).json()["id"] == account.id
    unnamed = api.client.post("/v1/keys", headers=api.as_(raw))
    assert unnamed.status_code == 201
    assert unnamed.json()["name"] is None
    assert "key" not in api.get("/v1/keys", raw).json()["data"][0]


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": "x" * 101}, {"name": 5}, {"nam": "typo"}, ["name"], {"name": "a\x00"}],
)
def test_a_new_key_with_a_bad_body_is_refused(api: Api, body: Any) -> None:
    """A key name must be 1 to 100 characters of text; no other field is taken."""
    assert error_code(api.post("/v1/keys", json=body), 422) == "validation_error"


def test_a_body_that_is_not_json_is_a_400(api: Api) -> None:
    """A body that does not parse is refused as on every route."""
    assert error_code(api.post("/v1/keys", content=b"{nope"), 400) == "invalid_json"


def test_a_key_of_another_account_is_not_found(api: Api) -> None:
    """Disabling, enabling or deleting a key of another account, or no key, is 404
    key_not_found, and the key is left as it was."""
    _, mine = api.account("acme")
    theirs = api.post("/v1/keys", json={"name": "admin's"}).json()
    for path in (f"/v1/keys/{theirs['id']}/disable", f"/v1/keys/{theirs['id']}/enable"):
        assert error_code(api.post(path, mine), 404) == "key_not_found"
    assert error_code(api.delete(f"/v1/keys/{theirs['id']}", mine), 404) == "key_not_found"
    assert error_code(api.post("/v1/keys/key_nope/disable", mine), 404) == "key_not_found"
    assert error_code(api.delete("/v1/keys/key%00", mine), 404) == "key_not_found"
    assert api.get("/v1/account", theirs["key"]).status_code == 200


def test_a_disabled_key_is_refused_at_once_and_enabled_again(api: Api) -> None:
    """A key just used (so remembered by the server) and then disabled is refused at once
    (401 key_disabled); enabled again, it works at once."""
    _, raw = api.account("acme")
    other = api.post("/v1/keys", raw, json={"name": "ci"}).json()
    assert api.get("/v1/jobs", other["key"]).status_code == 200
    disabled = api.post(f"/v1/keys/{other['id']}/disable", raw)
    assert disabled.status_code == 200
    assert (disabled.json()["id"], disabled.json()["disabled"]) == (other["id"], True)
    assert error_code(api.get("/v1/jobs", other["key"]), 401) == "key_disabled"
    enabled = api.post(f"/v1/keys/{other['id']}/enable", raw)
    assert enabled.json()["disabled"] is False
    assert api.get("/v1/jobs", other["key"]).status_code == 200


def test_a_deleted_key_is_refused_at_once(api: Api) -> None:
    """DELETE answers {object, id, deleted}; the key, just used, is refused at once, and a
    second delete is a 404."""
    _, raw = api.account("acme")
    other = api.post("/v1/keys", raw).json()
    assert api.get("/v1/jobs", other["key"]).status_code == 200
    deleted = api.delete(f"/v1/keys/{other['id']}", raw)
    assert deleted.json() == {"object": "key", "id": other["id"], "deleted": True}
    assert error_code(api.get("/v1/jobs", other["key"]), 401) == "unauthorized"
    assert error_code(api.delete(f"/v1/keys/{other['id']}", raw), 404) == "key_not_found"


def test_a_key_may_disable_itself(api: Api) -> None:
    """The calling key disabled by its own request is refused from the next one on."""
    _, raw = api.account("acme")
    me = api.get("/v1/account", raw).json()["key"]
    changed = api.post(f"/v1/keys/{me['id']}/disable", raw).json()
    assert (changed["current"], changed["disabled"]) == (True, True)
    assert error_code(api.get("/v1/account", raw), 401) == "key_disabled"


def test_last_use_is_written_at_most_once_a_minute(api: Api) -> None:
    """A key's use is recorded when its row is read, but not again while the recorded time
    is less than a minute old, however often the row is read."""
    account, raw = api.account("acme")
    assert api.get("/v1/jobs", raw).status_code == 200
    (first,) = api.store.list_keys(account.id)
    assert first.last_used_at is not None
    api.service._keys = KeyCache()  # the row is read again, as it is every second
    assert api.get("/v1/jobs", raw).status_code == 200
    (again,) = api.store.list_keys(account.id)
    assert again.last_used_at == first.last_used_at
    # As if last used two minutes ago: the next read of the row records the use again.
    stale = first.last_used_at - 2 * KEY_USE_PRECISION
    api.store.touch_key(first.id, stale, -1e9)
    api.service._keys = KeyCache()
    assert api.get("/v1/jobs", raw).status_code == 200
    (later,) = api.store.list_keys(account.id)
    assert later.last_used_at is not None
    assert later.last_used_at > stale


# -- usage ---------------------------------------------------------------------------------
def test_usage_sums_jobs_by_model_and_by_day(api: Api) -> None:
    """GET /v1/usage counts the account's jobs created in the last N UTC days, today
    included: by model, most spent first, and by day, oldest first, every day listed; spent
    is the jobs' actual cost (0 for a job not charged)."""
    account, raw = api.account("acme")
    now = time.time()
    today = int(now // DAY) * DAY
    run_job(api.store, account, "alpha", "0.1", today + 1)
    run_job(api.store, account, "alpha", "0.2", today - DAY + 1)
    run_job(api.store, account, "beta", "0.5", today - DAY + 2)
    queue_job(api.store, account, "0.3", today + 2)  # noop, queued: spent 0, held 0.3
    run_job(api.store, account, "alpha", "9", today - 5 * DAY)  # outside a 3-day window
    _, other = api.account("other")
    body = api.get("/v1/usage", raw, params={"days": 3}).json()
    assert body["object"] == "usage"
    assert (body["credits"], body["held"], body["days"]) == (None, 0.3, 3)
    assert body["by_model"] == [
        {"model": "beta", "jobs": 1, "spent": 0.5},
        {"model": "alpha", "jobs": 2, "spent": 0.3},
        {"model": "noop", "jobs": 1, "spent": 0},
    ]
    days = [time.strftime("%Y-%m-%d", time.gmtime(today - n * DAY)) for n in (2, 1, 0)]
    assert body["by_day"] == [
        {"day": days[0], "jobs": 0, "spent": 0},
        {"day": days[1], "jobs": 2, "spent": 0.7},
        {"day": days[2], "jobs": 2, "spent": 0.1},
    ]
    assert len(api.get("/v1/usage", raw).json()["by_day"]) == 30
    week = api.get("/v1/usage", raw, params={"days": 7}).json()
    assert sum(model["jobs"] for model in week["by_model"]) == 5
    assert api.get("/v1/usage", other).json()["by_model"] == []


@pytest.mark.parametrize("days", ["0", "367", "x"])
def test_usage_window_is_checked(api: Api, days: str) -> None:
    """days must be 1 to 366."""
    assert error_code(api.get("/v1/usage", params={"days": days}), 422) == "validation_error"


# -- admin -----------------------------------------------------------------------------------
ADMIN_ROUTES = [
    ("GET", "/v1/admin/accounts", None),
    ("POST", "/v1/admin/accounts", {"name": "new"}),
    ("POST", "/v1/admin/accounts/acct_x/credits", {"amount": 1}),
    ("GET", "/v1/admin/keys", None),
    ("POST", "/v1/admin/keys/key_x/disable", None),
    ("POST", "/v1/admin/keys/key_x/enable", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_other_accounts(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """A key of an account that is not an admin one gets 403 forbidden; no key, 401."""
    _, raw = api.account("acme")
    answer = api.client.request(method, path, headers=api.as_(raw), json=body)
    assert error_code(answer, 403) == "forbidden"
    assert error_code(api.client.request(method, path, json=body), 401) == "unauthorized"


def test_admin_lists_accounts_by_name(api: Api) -> None:
    """Every account, by name, with its balance, hold, admin flag, creation time and keys."""
    zed, _ = api.account("zed", Decimal("2.5"))
    api.account("bee")
    create_key(api.store, "bee")
    queue_job(api.store, zed, "0.5", time.time())
    listed = api.get("/v1/admin/accounts").json()
    assert listed["object"] == "list"
    assert [a["name"] for a in listed["data"]] == ["bee", "default", "zed"]
    bee, default, last = listed["data"]
    assert (bee["keys"], bee["credits"], bee["held"], bee["admin"]) == (2, None, 0, False)
    assert (default["admin"], default["keys"]) == (True, 1)
    assert (last.pop("weight"), last.pop("usage")["queued"]) == (1.0, 1)
    assert last.pop("limits")["max_queued"] == {"value": None, "source": "default"}
    assert last == {
        "object": "account",
        "id": zed.id,
        "name": "zed",
        "credits": 2.5,
        "held": 0.5,
        "admin": False,
        "created_at": last["created_at"],
        "keys": 1,
    }
    assert last["created_at"].endswith("Z")


def test_admin_creates_an_account_with_its_first_key(api: Api) -> None:
    """POST /v1/admin/accounts answers 201 with the account and its first key, shown once;
    a taken name is 409 account_exists."""
    made = api.post("/v1/admin/accounts", json={"name": "acme", "credits": 0.000001})
    assert made.status_code == 201, made.text
    body = made.json()
    key = body.pop("key")
    assert body == {
        "object": "account",
        "id": body["id"],
        "name": "acme",
        "credits": 0.000001,
        "held": 0,
        "admin": False,
        "created_at": body["created_at"],
        "keys": 1,
    }
    assert (key["object"], key["current"]) == ("key", False)
    assert api.get("/v1/account", key["key"]).json()["id"] == body["id"]
    taken = api.post("/v1/admin/accounts", json={"name": "acme"})
    assert error_code(taken, 409) == "account_exists"
    boss = api.post("/v1/admin/accounts", json={"name": "boss", "admin": True}).json()
    assert (boss["admin"], boss["credits"]) == (True, None)
    assert api.get("/v1/admin/keys", boss["key"]["key"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "a\nb\u202e"},
        {"name": "a/b"},
        {"name": "-x"},
        {"name": "x", "credits": -1},
        {"name": "x", "credits": 0.0000001},
        {"name": "x", "credits": "5"},
        {"name": "x", "credits": True},
        {"name": "x", "credits": 1e300},
        {"name": "x", "admin": "yes"},
        {"name": "x", "extra": 1},
    ],
)
def test_admin_account_bodies_are_checked(api: Api, body: dict[str, Any]) -> None:
    """A name of 1 to 100 characters, credits a number of at least 0 to the micro-credit,
    admin a boolean, nothing else."""
    assert error_code(api.post("/v1/admin/accounts", json=body), 422) == "validation_error"


def test_admin_adds_credits(api: Api) -> None:
    """Credits raise a limited balance exactly; an unlimited account is 409
    unlimited_account, an unknown one 404 account_not_found, a non-positive amount 422."""
    acme, _ = api.account("acme", Decimal("0.1"))
    unlimited, _ = api.account("free")
    raised = api.post(f"/v1/admin/accounts/{acme.id}/credits", json={"amount": 0.2})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["name"], raised.json()["credits"]) == ("acme", 0.3)
    path = f"/v1/admin/accounts/{unlimited.id}/credits"
    assert error_code(api.post(path, json={"amount": 1}), 409) == "unlimited_account"
    missing = api.post("/v1/admin/accounts/acct_nope/credits", json={"amount": 1})
    assert error_code(missing, 404) == "account_not_found"
    for amount in (0, -1, 0.0000001, 1e300):
        refused = api.post(f"/v1/admin/accounts/{acme.id}/credits", json={"amount": amount})
        assert error_code(refused, 422) == "validation_error"
    most = api.post(f"/v1/admin/accounts/{acme.id}/credits", json={"amount": 9_000_000_000_000})
    assert most.status_code == 200
    past = api.post(f"/v1/admin/accounts/{acme.id}/credits", json={"amount": 900_000_000_000})
    assert error_code(past, 422) == "validation_error"


def test_admin_amounts_are_read_exactly(api: Api) -> None:
    """An amount of 16 significant digits and more is stored as written, not as the float
    nearest to it (9699223737.567712 would be …713)."""
    acme, _ = api.account("acme", Decimal(0))
    raw = b'{"amount": 9699223737.567712}'
    headers = {"Content-Type": "application/json", **api.as_(api.admin_key)}
    path = f"/v1/admin/accounts/{acme.id}/credits"
    added = api.client.post(path, content=raw, headers=headers)
    assert added.status_code == 200, added.text
    stored = api.store.get_account(acme.id)
    assert stored is not None
    assert stored.credits == Decimal("9699223737.567712")
    raw = b'{"name": "big", "credits": 9145687855.620137}'
    made = api.client.post("/v1/admin/accounts", content=raw, headers=headers)
    assert made.status_code == 201, made.text
    big = api.store.get_account(made.json()["id"])
    assert big is not None
    assert big.credits == Decimal("9145687855.620137")


def test_admin_lists_and_changes_every_key(api: Api) -> None:
    """GET /v1/admin/keys lists every account's keys with their account; an admin disables
    another account's key, refused by it at once, and enables it again."""
    acme, raw = api.account("acme")
    listed = api.get("/v1/admin/keys").json()["data"]
    assert [(k["account"]["name"], k["current"]) for k in listed] == [
        ("acme", False),
        ("default", True),
    ]
    theirs = listed[0]
    assert theirs["account"] == {"id": acme.id, "name": "acme"}
    assert api.get("/v1/jobs", raw).status_code == 200
    disabled = api.post(f"/v1/admin/keys/{theirs['id']}/disable").json()
    assert (disabled["disabled"], disabled["account"]["name"]) == (True, "acme")
    assert error_code(api.get("/v1/jobs", raw), 401) == "key_disabled"
    assert api.post(f"/v1/admin/keys/{theirs['id']}/enable").json()["disabled"] is False
    assert api.get("/v1/jobs", raw).status_code == 200
    missing = api.post("/v1/admin/keys/key_nope/disable")
    assert error_code(missing, 404) == "key_not_found"


# -- the console's sign-in -------------------------------------------------------------------
def test_a_sign_in_token_makes_a_key_once(api: Api) -> None:
    """A token trades, without a key, for a new key of its account named 'console sign-in';
    a second use is 401 invalid_sign_in_token."""
    acme, _ = api.account("acme")
    token = new_sign_in_token(api.store, acme.id)
    signed = api.client.post("/v1/console/sign-in", json={"token": token})
    assert signed.status_code == 201, signed.text
    body = signed.json()
    assert body["account"] == {"id": acme.id, "name": "acme"}
    mine = api.get("/v1/account", body["key"]).json()
    assert (mine["id"], mine["key"]["name"]) == (acme.id, "console sign-in")
    again = api.client.post("/v1/console/sign-in", json={"token": token})
    assert error_code(again, 401) == "invalid_sign_in_token"


def test_expired_and_unknown_sign_in_tokens_are_refused(api: Api) -> None:
    """A token made more than ten minutes ago, or never made, is 401 invalid_sign_in_token;
    a body without a token is 422."""
    acme, _ = api.account("acme")
    expired = new_sign_in_token(api.store, acme.id, now=time.time() - 601)
    for token in (expired, "not-a-token", "a\u00e9"):
        answer = api.client.post("/v1/console/sign-in", json={"token": token})
        assert error_code(answer, 401) == "invalid_sign_in_token"
    for body in ({}, {"token": ""}, {"token": 1}, {"token": "x" * 201}):
        answer = api.client.post("/v1/console/sign-in", json=body)
        assert error_code(answer, 422) == "validation_error"


def test_the_openapi_document_lists_the_account_routes(api: Api) -> None:
    """Every route of the contract is in the document, under the Account tag; only the
    sign-in takes no key."""
    paths = api.client.get("/openapi.json").json()["paths"]
    expected = {
        ("/v1/account", "get"),
        ("/v1/keys", "get"),
        ("/v1/keys", "post"),
        ("/v1/keys/{key_id}/disable", "post"),
        ("/v1/keys/{key_id}/enable", "post"),
        ("/v1/keys/{key_id}", "delete"),
        ("/v1/usage", "get"),
        ("/v1/admin/accounts", "get"),
        ("/v1/admin/accounts", "post"),
        ("/v1/admin/accounts/{account_id}/credits", "post"),
        ("/v1/admin/keys", "get"),
        ("/v1/admin/keys/{key_id}/disable", "post"),
        ("/v1/admin/keys/{key_id}/enable", "post"),
        ("/v1/console/sign-in", "post"),
    }
    for path, method in expected:
        operation = paths[path][method]
        assert operation["tags"] == ["Account"], path
        assert ("security" in operation) == (path != "/v1/console/sign-in"), path
    assert "403" in paths["/v1/admin/keys"]["get"]["responses"]
    assert "401" in paths["/v1/console/sign-in"]["post"]["responses"]
