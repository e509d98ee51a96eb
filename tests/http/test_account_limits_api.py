"""An account's limits through the API, in-process on each backend: an admin's change of its
weight and limits (validated, effective at once), the caps a submit meets (429
``too_many_queued``, 403 ``quota_exceeded``) natively and through vendor dialects in their
own error shapes, and the account views that show limits and usage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from genq.jobs import OutputRecord
from genq.keys import create_key
from genq.server import build_app
from genq.service import JobService
from genq.settings import Settings
from genq.store import JobStore, NewJob
from tests.pg import drop_schema, new_schema, store_url

Answer = Any


@dataclass
class Api:
    client: TestClient
    store: JobStore
    admin_key: str

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Answer:
        headers = {"Authorization": f"Bearer {key or self.admin_key}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def account(self, name: str) -> tuple[str, str]:
        """A plain account's id and a key of it."""
        key, raw = create_key(self.store, name)
        return key.account_id, raw

    def submit(self, key: str) -> Answer:
        return self.call("POST", "/v1/jobs", key, json={"model": "noop", "input": {}})

    def limits(self, account_id: str, **body: Any) -> Answer:
        return self.call("PATCH", f"/v1/admin/accounts/{account_id}", json=body)


@pytest.fixture
def make_api(backend_name: str, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """In-process servers without workers (jobs stay queued), with settings of the test's."""
    schemas: list[str] = []
    clients: list[TestClient] = []

    def make(**settings: Any) -> Api:
        if backend_name == "postgres":
            schemas.append(new_schema("lim"))
            settings["db"] = store_url(schemas[-1])
        app = build_app(Settings(data_dir=tmp_path / str(len(clients)), **settings), workers=False)
        service: JobService = app.state.service
        _, raw = create_key(service.store, "default", admin=True)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Api(client, service.store, raw)

    try:
        yield make
    finally:
        for client in clients:
            client.__exit__(None, None, None)
        for schema in schemas:
            drop_schema(schema)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def error(response: Answer, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code
    return body


def finished_with_outputs(api: Api, account_id: str, sizes: list[int]) -> str:
    """A job of the account that succeeded with outputs of these sizes."""
    job_id = f"job_{time.monotonic_ns()}"
    now = time.time()
    api.store.submit(NewJob(job_id, account_id, "noop", {}, 0, {}, Decimal(0), now, now + 3600))
    (claim,) = api.store.claim("w1", ["noop"], now, 30.0)
    outputs = [
        OutputRecord(f"{job_id}/{i}", "text/plain", n, "0" * 64) for i, n in enumerate(sizes)
    ]
    assert api.store.finish(claim, now, outputs=outputs) is not None
    return job_id


# -- an admin's change --------------------------------------------------------------------------
def test_an_admin_sets_weight_and_limits(api: Api) -> None:
    """PATCH sets the fields given and keeps the others; the answer shows each limit as it
    applies and where it comes from; null puts one back to the default, 0 lifts it."""
    account_id, _ = api.account("tuned")
    response = api.limits(account_id, weight=3, max_running=2, max_queued=10, rate_per_second=2.5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == account_id
    assert body["weight"] == 3.0
    assert body["limits"] == {
        "max_running": {"value": 2, "source": "account"},
        "max_queued": {"value": 10, "source": "account"},
        "rate_per_second": {"value": 2.5, "source": "account"},
        "rate_burst": {"value": 5, "source": "default"},
        "storage_quota_bytes": {"value": None, "source": "default"},
    }
    assert body["usage"] == {"queued": 0, "running": 0, "stored_bytes": 0}
    again = api.limits(account_id, weight=None, max_queued=0, storage_quota_bytes=2**40).json()
    assert again["weight"] == 1.0
    assert again["limits"]["max_running"] == {"value": 2, "source": "account"}
    assert again["limits"]["max_queued"] == {"value": None, "source": "account"}
    assert again["limits"]["storage_quota_bytes"] == {"value": 2**40, "source": "account"}
    back = api.limits(account_id, max_running=None, rate_per_second=None).json()
    assert back["limits"]["max_running"] == {"value": None, "source": "default"}
    assert back["limits"]["rate_burst"] == {"value": None, "source": "default"}


@pytest.mark.parametrize(
    "body",
    [
        {"weight": 0},
        {"weight": -1},
        {"weight": 1001},
        {"weight": "2"},
        {"max_queued": -1},
        {"max_queued": 1.5},
        {"max_queued": True},
        {"max_running": 10**7},
        {"rate_per_second": -0.5},
        {"rate_burst": "4"},
        {"storage_quota_bytes": 2**53},
        {"max_parallel": 1},
    ],
)
@pytest.mark.backends("sqlite")
def test_an_invalid_change_is_refused(api: Api, body: dict[str, Any]) -> None:
    """A negative, fractional, non-numeric or too large value, a weight of 0 or an unknown
    field is a 422 naming the field, and changes nothing."""
    account_id, _ = api.account("strict")
    detail = error(api.limits(account_id, **body), 422, "validation_error")
    assert next(iter(body)) in str(detail["details"])
    unchanged = api.call("GET", "/v1/admin/accounts").json()["data"]
    account = next(a for a in unchanged if a["id"] == account_id)
    assert account["weight"] == 1.0
    assert all(limit["source"] == "default" for limit in account["limits"].values())


@pytest.mark.backends("sqlite")
def test_only_an_admin_changes_limits_of_a_known_account(api: Api) -> None:
    """A plain account's key is refused with 403; an unknown account is a 404."""
    account_id, key = api.account("plain")
    response = api.call("PATCH", f"/v1/admin/accounts/{account_id}", key, json={"max_queued": 0})
    error(response, 403, "forbidden")
    error(api.limits("acct_nobody", max_queued=1), 404, "account_not_found")


# -- the cap of queued jobs -----------------------------------------------------------------------
def test_the_queued_cap_set_by_an_admin_holds_at_once(api: Api) -> None:
    """With max_queued 2, the third submit is a 429 too_many_queued saying what is queued and
    allowed; lifting the cap lets it through."""
    account_id, key = api.account("busy")
    api.limits(account_id, max_queued=2)
    for _ in range(2):
        assert api.submit(key).status_code == 202
    refused = error(api.submit(key), 429, "too_many_queued")
    assert refused["details"] == {"queued": 2, "max_queued": 2, "submitted": 1}
    assert "2 jobs queued" in refused["message"]
    api.limits(account_id, max_queued=0)
    assert api.submit(key).status_code == 202


def test_the_configured_default_caps_every_account(make_api: Callable[..., Api]) -> None:
    """max_queued_per_account caps an account without its own; the account view shows the
    default and the usage."""
    api = make_api(max_queued_per_account=1)
    _, key = api.account("small")
    assert api.submit(key).status_code == 202
    error(api.submit(key), 429, "too_many_queued")
    view = api.call("GET", "/v1/account", key).json()
    assert view["limits"]["max_queued"] == {"value": 1, "source": "default"}
    assert view["usage"] == {"queued": 1, "running": 0, "stored_bytes": 0}
    assert view["weight"] == 1.0


@pytest.mark.backends("sqlite")
def test_dialects_answer_the_queued_cap_in_their_own_shape(api: Api) -> None:
    """NetMind answers {"detail", "code"} with 429; Oxen's group of generations is refused
    whole, as {"error": message}."""
    account_id, key = api.account("vendor")
    api.limits(account_id, max_queued=2)
    netmind = {"model": "Qwen/Qwen-Image", "config": {"prompt": "a cup", "image_size": "square"}}
    assert api.call("POST", "/v1/generation", key, json=netmind).status_code < 300
    oxen = {"model": "demo-image", "prompt": "a cup", "num_generations": 2}
    response = api.call("POST", "/api/ai/queue", key, json=oxen)
    assert response.status_code == 429
    assert list(response.json()) == ["error"]
    assert "at most 2" in response.json()["error"]
    assert api.call("POST", "/v1/generation", key, json=netmind).status_code < 300
    response = api.call("POST", "/v1/generation", key, json=netmind)
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_queued"
    assert "detail" in response.json()


# -- the storage quota --------------------------------------------------------------------------
def test_stored_outputs_at_the_quota_refuse_submits_until_deleted(api: Api) -> None:
    """A finished job's outputs count against the quota: at it, a submit is a 403
    quota_exceeded with what is used and allowed; deleting the job frees the space."""
    account_id, key = api.account("hoarder")
    job_id = finished_with_outputs(api, account_id, [600, 400])
    api.limits(account_id, storage_quota_bytes=1000)
    refused = error(api.submit(key), 403, "quota_exceeded")
    assert refused["details"] == {"used_bytes": 1000, "quota_bytes": 1000}
    view = api.call("GET", "/v1/account", key).json()
    assert view["usage"]["stored_bytes"] == 1000
    assert api.call("DELETE", f"/v1/jobs/{job_id}", key).status_code == 200
    assert api.submit(key).status_code == 202


def test_an_idempotent_replay_over_quota_answers_its_job(api: Api) -> None:
    """A submit retried with its Idempotency-Key after the account reached its quota gets
    its job back (200), while a new one is refused."""
    account_id, key = api.account("retrier")
    body = {"model": "noop", "input": {}}
    headers = {"Idempotency-Key": "once"}
    made = api.call("POST", "/v1/jobs", key, json=body, headers=headers)
    assert made.status_code == 202, made.text
    finished_with_outputs(api, account_id, [50])
    api.limits(account_id, storage_quota_bytes=10)
    again = api.call("POST", "/v1/jobs", key, json=body, headers=headers)
    assert (again.status_code, again.json()["id"]) == (200, made.json()["id"])
    error(api.submit(key), 403, "quota_exceeded")


@pytest.mark.backends("sqlite")
def test_the_configured_quota_through_a_dialect(make_api: Callable[..., Api]) -> None:
    """storage_quota_bytes caps an account without its own; Segmind answers the refusal in
    its own shape, and an account's 0 lifts the quota."""
    api = make_api(storage_quota_bytes=100)
    account_id, key = api.account("segmind-user")
    finished_with_outputs(api, account_id, [101])
    response = api.call("POST", "/v2/seedream-4.5", key, json={"prompt": "a cup"})
    assert response.status_code == 403
    assert list(response.json()) == ["error"]
    assert "quota" in response.json()["error"]
    api.limits(account_id, storage_quota_bytes=0)
    response = api.call("POST", "/v2/seedream-4.5", key, json={"prompt": "a cup"})
    assert response.status_code < 300, response.text


# -- the admin's list -----------------------------------------------------------------------------
def test_the_account_list_shows_weight_limits_and_usage(make_api: Callable[..., Api]) -> None:
    """Each account in the admin list carries its weight, limits and usage."""
    api = make_api(max_running_per_account=4)
    account_id, key = api.account("listed")
    api.limits(account_id, weight=2)
    api.submit(key)
    finished_with_outputs(api, account_id, [10])
    listed = api.call("GET", "/v1/admin/accounts").json()["data"]
    account = next(a for a in listed if a["id"] == account_id)
    assert account["weight"] == 2.0
    assert account["limits"]["max_running"] == {"value": 4, "source": "default"}
    assert account["usage"] == {"queued": 1, "running": 0, "stored_bytes": 10}
    admin = next(a for a in listed if a["name"] == "default")
    assert admin["usage"] == {"queued": 0, "running": 0, "stored_bytes": 0}
