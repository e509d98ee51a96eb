"""``POST /v1/jobs/{id}/retry``, in-process on each backend: a failed, canceled or expired job
run again as a new job, charged as one, linked both ways; refusals for the other states; the
Idempotency-Key. Jobs end here by a worker's store calls (no worker process runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from genq.jobs import Failure
from tests.http.test_account_api import Api, error_code, running_api

#: A public address, so that the webhook check resolves nothing.
HOOK = "https://93.184.215.14/genq"


@pytest.fixture
def api(backend_name: str, tmp_path: Path) -> Iterator[Api]:
    """As ``test_account_api``'s, with an alias ``quick`` of ``noop``."""
    aliases = {"quick": {"model": "noop"}}
    with running_api(backend_name, tmp_path, "retry", aliases=aliases) as api:
        yield api


def submit(api: Api, key: str | None = None, **body: Any) -> dict[str, Any]:
    answer = api.post("/v1/jobs", key, json={"model": "noop", **body})
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def run(api: Api, job_id: str, error: Failure | None = None) -> None:
    """Take the job as a worker would, and end it: failed with ``error``, else succeeded."""
    [claim] = api.store.claim("w-test", ["noop"], time.time(), 30)
    assert claim.job.id == job_id
    api.store.finish(claim, time.time(), error=error)


def fail(api: Api, job_id: str) -> None:
    run(api, job_id, Failure("model_error", "boom"))


def retry(api: Api, job_id: str, key: str | None = None, **headers: str) -> Any:
    auth = api.as_(key or api.admin_key)
    return api.client.post(f"/v1/jobs/{job_id}/retry", headers={**auth, **headers})


def read(api: Api, job_id: str, key: str | None = None) -> dict[str, Any]:
    return dict(api.get(f"/v1/jobs/{job_id}", key).json())


def test_a_failed_job_runs_again_as_a_new_job_linked_both_ways(api: Api) -> None:
    """The retry has the failed job's model (by its alias), input, priority, metadata,
    webhook and timeout, but no start deadline; each names the other; a job never retried
    names none."""
    body: dict[str, Any] = {
        "model": "quick",
        "input": {"steps": 2},
        "priority": 7,
        "metadata": {"run": 1},
        "webhook": HOOK,
        "webhook_events": ["start", "completed"],
        "timeout": 30.0,
        "start_deadline": 3600.0,
    }
    old = submit(api, **body)
    assert (old["retry_of"], old["retried_by"]) == (None, None)
    fail(api, old["id"])
    answer = retry(api, old["id"])
    assert answer.status_code == 202, answer.text
    new = answer.json()
    assert new["id"] != old["id"]
    assert (new["status"], new["attempts"]) == ("queued", 0)
    for field in ("model", "input", "priority", "metadata", "webhook", "webhook_events", "timeout"):
        assert new[field] == old[field], field
    assert new["start_deadline"] is None
    assert new["origin"] == {"api": "native", "model": "quick"}
    assert (new["retry_of"], new["retried_by"]) == (old["id"], None)
    assert read(api, old["id"])["retried_by"] == new["id"]
    assert read(api, old["id"])["status"] == "failed"


def test_a_canceled_job_and_a_retry_of_a_retry_run_again(api: Api) -> None:
    """A canceled job runs again; a retry that failed runs again in turn; the job retried
    twice names its latest retry."""
    old = submit(api)
    assert api.post(f"/v1/jobs/{old['id']}/cancel").json()["status"] == "canceled"
    first = retry(api, old["id"]).json()
    fail(api, first["id"])
    second = retry(api, first["id"]).json()
    assert second["retry_of"] == first["id"]
    assert read(api, first["id"])["retried_by"] == second["id"]
    api.post(f"/v1/jobs/{second['id']}/cancel")
    third = retry(api, old["id"]).json()
    assert read(api, old["id"])["retried_by"] == third["id"]
    assert read(api, first["id"])["retry_of"] == old["id"]


def test_a_queued_running_or_succeeded_job_is_not_retried(api: Api) -> None:
    """409 not_retryable, naming the job's status, for a queued, running or succeeded job;
    404 for no such job, or another account's."""
    queued = submit(api)
    answer = retry(api, queued["id"])
    assert error_code(answer, 409) == "not_retryable"
    assert answer.json()["error"]["details"] == {"status": "queued"}
    api.store.claim("w-test", ["noop"], time.time(), 30)
    assert retry(api, queued["id"]).json()["error"]["details"] == {"status": "running"}
    done = submit(api)
    run(api, done["id"])
    assert retry(api, done["id"]).json()["error"]["details"] == {"status": "succeeded"}
    assert error_code(retry(api, "job_nope"), 404) == "job_not_found"
    failed = submit(api)
    fail(api, failed["id"])
    _, stranger = api.account("stranger")
    assert error_code(retry(api, failed["id"], stranger), 404) == "job_not_found"
    assert read(api, failed["id"])["retried_by"] is None


def test_a_retry_is_charged_as_a_new_job(api: Api) -> None:
    """The retry holds its estimate on the account's credits as a submit does: a balance
    that covers one job retries once, and refuses a second retry while the first is held."""
    _, key = api.account("frugal", credits=Decimal("0.0001"))
    old = submit(api, key)
    fail(api, old["id"])
    first = retry(api, old["id"], key)
    assert first.status_code == 202, first.text
    assert first.json()["cost"]["estimate"] == 0.0001
    assert error_code(retry(api, old["id"], key), 402) == "insufficient_credits"


def test_an_idempotency_key_makes_one_retry(api: Api) -> None:
    """The same key retrying the same job returns the retry it made (200); with another
    job, or a key a submit used, it is a 409."""
    old = submit(api)
    fail(api, old["id"])
    made = retry(api, old["id"], **{"Idempotency-Key": "again-1"})
    replayed = retry(api, old["id"], **{"Idempotency-Key": "again-1"})
    assert (made.status_code, replayed.status_code) == (202, 200)
    assert replayed.json()["id"] == made.json()["id"]
    api.post(f"/v1/jobs/{made.json()['id']}/cancel")
    other = submit(api)
    fail(api, other["id"])
    clash = retry(api, other["id"], **{"Idempotency-Key": "again-1"})
    assert error_code(clash, 409) == "idempotency_conflict"
    headers = {**api.as_(api.admin_key), "Idempotency-Key": "sub-1"}
    keyed = api.client.post("/v1/jobs", json={"model": "noop"}, headers=headers)
    assert keyed.status_code == 202
    assert error_code(retry(api, other["id"], **{"Idempotency-Key": "sub-1"}), 409) == (
        "idempotency_conflict"
    )
    listed = api.get("/v1/jobs", params={"limit": 100}).json()["data"]
    assert [j["id"] for j in listed if j["retry_of"] == old["id"]] == [made.json()["id"]]


def test_an_expired_job_runs_again_without_its_deadline(api: Api) -> None:
    """A job that expired at its start deadline runs again, with no deadline of its own."""
    old = submit(api, start_deadline=0.05)
    deadline = time.monotonic() + 10
    while read(api, old["id"])["status"] != "expired":
        assert time.monotonic() < deadline, "the job did not expire"
        time.sleep(0.05)
    answer = retry(api, old["id"])
    assert answer.status_code == 202, answer.text
    assert (answer.json()["retry_of"], answer.json()["start_deadline"]) == (old["id"], None)


def test_a_retry_meets_the_limits_of_a_submit(api: Api) -> None:
    """An account at its cap of queued jobs is refused a retry as it is a submit: 429
    too_many_queued, and no link is made."""
    account, key = api.account("capped")
    old = submit(api, key)
    fail(api, old["id"])
    api.store.set_account_limits(account.id, {"max_queued": 1})
    submit(api, key)
    assert error_code(retry(api, old["id"], key), 429) == "too_many_queued"
    assert read(api, old["id"], key)["retried_by"] is None
