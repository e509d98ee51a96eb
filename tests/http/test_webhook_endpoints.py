"""The webhook endpoint routes of the native API, in-process on each backend: register, list,
get, disable, enable, rotate and delete an account's endpoints; the account's calls listed and
sent again. (The calls themselves, to a real receiver: ``tests/webhooks/test_endpoints.py``.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genq.service.core import HAS_CALLS_SECONDS
from genq.service.webhooks import MAX_ENDPOINTS
from tests.http.test_account_api import Api, error_code, running_api

#: A public address, so that registration resolves nothing.
HOOK = "https://93.184.215.14/genq"


@pytest.fixture
def api(backend_name: str, tmp_path: Path) -> Iterator[Api]:
    """As ``test_account_api``'s, with a model ``noop`` and its alias ``quick``."""
    aliases = {"quick": {"model": "noop"}}
    with running_api(backend_name, tmp_path, "hooks", aliases=aliases) as api:
        yield api


def register(api: Api, key: str | None = None, **body: object) -> dict[str, object]:
    answer = api.post("/v1/webhooks", key, json={"url": HOOK, **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_an_endpoint_is_registered_listed_and_shown_without_its_secret(api: Api) -> None:
    made = register(api, events=["completed", "start"], models=["quick"], description="ci")
    assert str(made["id"]).startswith("wh_")
    assert str(made["secret"]).startswith("whsec_")
    # In the order of the events, the alias as its model.
    assert made["events"] == ["start", "completed"]
    assert made["models"] == ["noop"]
    assert (made["enabled"], made["disabled_at"], made["description"]) == (True, None, "ci")
    shown = api.get(f"/v1/webhooks/{made['id']}").json()
    assert shown == {k: v for k, v in made.items() if k != "secret"}
    listed = api.get("/v1/webhooks").json()
    assert listed == {"object": "list", "data": [shown]}
    plain = register(api)
    assert (plain["events"], plain["models"]) == (["completed"], None)
    assert [e["id"] for e in api.get("/v1/webhooks").json()["data"]] == [made["id"], plain["id"]]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"url": "https://127.0.0.1/hook"}, "url"),
        ({"url": "https://10.0.0.1/hook"}, "url"),
        ({"url": "http://93.184.215.14/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": ["finished"]}, "events/0"),
        ({"url": HOOK, "models": ["nope"]}, "models/0"),
        ({"url": HOOK, "models": [""]}, "models/0"),
        ({"url": HOOK, "models": [7]}, "models/0"),
        ({"url": HOOK, "secret": "whsec_mine"}, "secret"),
        ({"url": HOOK, "description": "x" * 501}, "description"),
        ({}, "url"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field(
    api: Api, body: dict[str, object], path: str
) -> None:
    answer = api.post("/v1/webhooks", json=body)
    assert error_code(answer, 422) == "validation_error"
    assert path in [d["path"] for d in answer.json()["error"]["details"]], answer.text
    assert api.get("/v1/webhooks").json()["data"] == []


def test_an_account_sees_and_changes_only_its_own_endpoints(api: Api) -> None:
    made = register(api)
    _, bob = api.account("bob")
    assert api.get("/v1/webhooks", bob).json()["data"] == []
    for method, path in [
        ("GET", f"/v1/webhooks/{made['id']}"),
        ("DELETE", f"/v1/webhooks/{made['id']}"),
        ("POST", f"/v1/webhooks/{made['id']}/disable"),
        ("POST", f"/v1/webhooks/{made['id']}/enable"),
        ("POST", f"/v1/webhooks/{made['id']}/rotate-secret"),
        ("GET", "/v1/webhooks/wh_nothing"),
        ("GET", "/v1/webhooks/wh%00"),
    ]:
        answer = api.client.request(method, path, headers=api.as_(bob))
        assert error_code(answer, 404) == "webhook_not_found", (method, path)
    assert api.get(f"/v1/webhooks/{made['id']}").json()["enabled"] is True


def test_an_endpoint_is_disabled_enabled_rotated_and_deleted(api: Api) -> None:
    made = register(api)
    path = f"/v1/webhooks/{made['id']}"
    off = api.post(f"{path}/disable").json()
    assert (off["enabled"], off["disabled_reason"]) == (False, "disabled by its account")
    assert off["disabled_at"] is not None
    on = api.post(f"{path}/enable").json()
    assert (on["enabled"], on["disabled_at"], on["disabled_reason"]) == (True, None, None)
    rotated = api.post(f"{path}/rotate-secret").json()
    assert str(rotated["secret"]).startswith("whsec_")
    assert rotated["secret"] != made["secret"]
    assert "secret" not in api.get(path).json()
    assert api.delete(path).json() == {"object": "webhook", "id": made["id"], "deleted": True}
    assert error_code(api.get(path), 404) == "webhook_not_found"
    assert error_code(api.delete(path), 404) == "webhook_not_found"


def test_an_account_has_at_most_so_many_endpoints(api: Api) -> None:
    for _ in range(MAX_ENDPOINTS):
        register(api)
    answer = api.post("/v1/webhooks", json={"url": HOOK})
    assert error_code(answer, 409) == "too_many_webhooks"
    assert str(MAX_ENDPOINTS) in answer.json()["error"]["message"]


def test_a_jobs_status_read_shows_the_calls_of_its_accounts_endpoints(api: Api) -> None:
    """A job with no webhook of its own shows the calls of its account's endpoints (each
    naming its endpoint); a job of an account with none shows no ``webhooks``."""
    made = register(api)
    job = api.post("/v1/jobs", json={"model": "noop"}).json()
    api.post(f"/v1/jobs/{job['id']}/cancel")
    [call] = api.get(f"/v1/jobs/{job['id']}").json()["webhooks"]
    assert (call["event"], call["state"], call["webhook_id"]) == (
        "completed",
        "pending",
        made["id"],
    )
    _, bob = api.account("bob")
    plain = api.post("/v1/jobs", bob, json={"model": "noop"}).json()
    assert "webhooks" not in api.get(f"/v1/jobs/{plain['id']}", bob).json()


def test_calls_are_listed_by_job_endpoint_and_state_a_page_at_a_time(api: Api) -> None:
    first = register(api)
    second = register(api, events=["start", "completed"])
    jobs = []
    for _ in range(3):
        job = api.post("/v1/jobs", json={"model": "noop"}).json()
        api.post(f"/v1/jobs/{job['id']}/cancel")
        jobs.append(job["id"])
    listed = api.get("/v1/webhooks/deliveries").json()
    assert listed["next_cursor"] is None
    calls = listed["data"]
    assert len(calls) == 6
    assert [c["job_id"] for c in calls[::2]] == jobs[::-1]
    call = calls[0]
    assert call["object"] == "webhook_delivery"
    # The server is trying to send it meanwhile (to an address this test does not reach).
    assert (call["event"], call["state"], call["url"]) == ("completed", "pending", HOOK)
    assert call["attempts"] in (0, 1)
    assert call["next_attempt_at"] is not None
    seen = []
    cursor = None
    while True:
        query = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/webhooks/deliveries", params=query).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in calls]
    of_job = api.get("/v1/webhooks/deliveries", params={"job_id": jobs[0]}).json()["data"]
    assert {c["webhook_id"] for c in of_job} == {first["id"], second["id"]}
    of_first = api.get("/v1/webhooks/deliveries", params={"webhook_id": first["id"]}).json()
    assert len(of_first["data"]) == 3
    assert api.get("/v1/webhooks/deliveries", params={"state": "failed"}).json()["data"] == []
    answer = api.get("/v1/webhooks/deliveries", params={"state": "lost"})
    assert error_code(answer, 422) == "validation_error"
    answer = api.get("/v1/webhooks/deliveries", params={"limit": 501})
    assert error_code(answer, 422) == "validation_error"
    _, bob = api.account("bob")
    assert api.get("/v1/webhooks/deliveries", bob).json()["data"] == []
    redelivered = api.post(f"/v1/webhooks/deliveries/{call['id']}/redeliver", bob)
    assert error_code(redelivered, 404) == "delivery_not_found"


def test_a_call_is_sent_again_unless_its_endpoint_is_disabled(api: Api) -> None:
    """A pending call stays as it is; a failed one is due again with its id; one of a
    disabled or deleted endpoint answers 409. (The server tries to send the calls meanwhile,
    to an address this test does not reach: they stay pending.)"""
    made = register(api)
    job = api.post("/v1/jobs", json={"model": "noop"}).json()
    api.post(f"/v1/jobs/{job['id']}/cancel")
    [call] = api.get("/v1/webhooks/deliveries").json()["data"]
    path = f"/v1/webhooks/deliveries/{call['id']}/redeliver"
    pending = api.post(path).json()
    assert (pending["id"], pending["state"], pending["created_at"]) == (
        call["id"],
        "pending",
        call["created_at"],
    )
    api.post(f"/v1/webhooks/{made['id']}/disable")
    [failed] = api.get("/v1/webhooks/deliveries").json()["data"]
    assert (failed["state"], failed["last_error"]) == ("failed", "disabled by its account")
    assert error_code(api.post(path), 409) == "webhook_disabled"
    api.post(f"/v1/webhooks/{made['id']}/enable")
    again = api.post(path).json()
    assert (again["id"], again["state"], again["finished_at"]) == (call["id"], "pending", None)
    api.delete(f"/v1/webhooks/{made['id']}")
    assert error_code(api.post(path), 409) == "webhook_disabled"


def test_a_listing_goes_on_after_its_last_call_is_deleted(api: Api) -> None:
    """The cursor holds a position, not a call: the next page comes even when the call that
    ended the last one went with its job; a cursor no listing made is refused."""
    register(api)
    jobs = []
    for _ in range(3):
        job = api.post("/v1/jobs", json={"model": "noop"}).json()
        api.post(f"/v1/jobs/{job['id']}/cancel")
        jobs.append(job["id"])
    first = api.get("/v1/webhooks/deliveries", params={"limit": 1}).json()
    assert [c["job_id"] for c in first["data"]] == [jobs[2]]
    assert api.delete(f"/v1/jobs/{jobs[2]}").status_code in (200, 204)
    rest = api.get(
        "/v1/webhooks/deliveries", params={"limit": 5, "cursor": first["next_cursor"]}
    ).json()
    assert [c["job_id"] for c in rest["data"]] == [jobs[1], jobs[0]]
    for cursor in ("nope", "cG5hbg", "x" * 100):
        answer = api.get("/v1/webhooks/deliveries", params={"cursor": cursor})
        assert error_code(answer, 422) == "validation_error", cursor


def test_a_registration_repeated_with_its_idempotency_key_makes_one_endpoint(api: Api) -> None:
    """The same key and body answer the endpoint the first made, secret included (its answer
    may have been lost); another body with that key is a 409; another account's same key
    makes its own endpoint."""
    once = {"Idempotency-Key": "create-1", **api.as_(api.admin_key)}
    first = api.client.post("/v1/webhooks", json={"url": HOOK}, headers=once)
    again = api.client.post("/v1/webhooks", json={"url": HOOK}, headers=once)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = api.client.post("/v1/webhooks", json={"url": HOOK, "models": ["noop"]}, headers=once)
    assert error_code(other, 409) == "idempotency_conflict"
    assert len(api.get("/v1/webhooks").json()["data"]) == 1
    _, bob = api.account("bob")
    theirs = api.client.post(
        "/v1/webhooks", json={"url": HOOK}, headers={**api.as_(bob), "Idempotency-Key": "create-1"}
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


def test_hostile_listing_parameters_and_ports_are_refused(api: Api) -> None:
    for params in ({"job_id": "a\x00b"}, {"webhook_id": "wh_\x00"}):
        answer = api.get("/v1/webhooks/deliveries", params=params)
        assert error_code(answer, 422) == "validation_error", params
    from genq.http.cursors import encode_position

    answer = api.get("/v1/webhooks/deliveries", params={"cursor": encode_position(1.0, "a\x00")})
    assert error_code(answer, 422) == "validation_error"
    for port in ("99999", "0"):
        answer = api.post("/v1/webhooks", json={"url": f"https://93.184.215.14:{port}/h"})
        assert error_code(answer, 422) == "validation_error", port


def test_a_jobs_calls_stay_shown_after_its_endpoint_is_deleted(api: Api) -> None:
    made = register(api)
    job = api.post("/v1/jobs", json={"model": "noop"}).json()
    api.post(f"/v1/jobs/{job['id']}/cancel")
    api.delete(f"/v1/webhooks/{made['id']}")
    time.sleep(HAS_CALLS_SECONDS)
    [call] = api.get(f"/v1/jobs/{job['id']}").json()["webhooks"]
    assert (call["webhook_id"], call["state"]) == (made["id"], "failed")


def test_a_key_whose_endpoint_was_deleted_makes_no_new_one(api: Api) -> None:
    """Its id would be the deleted endpoint's, and inherit its calls: 409."""
    once = {"Idempotency-Key": "create-2", **api.as_(api.admin_key)}
    made = api.client.post("/v1/webhooks", json={"url": HOOK}, headers=once).json()
    job = api.post("/v1/jobs", json={"model": "noop"}).json()
    api.post(f"/v1/jobs/{job['id']}/cancel")
    api.delete(f"/v1/webhooks/{made['id']}")
    again = api.client.post("/v1/webhooks", json={"url": HOOK}, headers=once)
    assert error_code(again, 409) == "idempotency_conflict"
