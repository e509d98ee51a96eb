"""Error shapes and codes, authentication, and account scoping on every route."""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import pytest

from genq.service.keys import KEY_TTL_SECONDS
from tests.conftest import GenqServer, wait_for


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def refused_within(api: httpx.Client, seconds: float) -> dict:
    """The 401 error a server answers the client's key with, no later than ``seconds`` from
    now (the server may still accept a key it checked less than that long ago)."""
    deadline = time.monotonic() + seconds
    while (response := api.get("/v1/jobs")).status_code == 200:
        assert time.monotonic() < deadline, "the key is still accepted"
        time.sleep(0.05)
    return error_of(response, 401)


def test_invalid_json_is_400(api: httpx.Client) -> None:
    """A body that is not JSON answers 400 invalid_json."""
    response = api.post("/v1/jobs", content=b"{nope", headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "invalid_json"


def test_schema_violation_is_422_with_field_paths(api: httpx.Client) -> None:
    """Input that breaks the model's schema answers 422 naming each failing field."""
    body = {"model": "noop", "input": {"sleep_ms": -1, "steps": "many", "colour": "red"}}
    error = error_of(api.post("/v1/jobs", json=body), 422)
    assert error["code"] == "validation_error"
    paths = {d["path"] for d in error["details"]}
    assert {"input/sleep_ms", "input/steps", "input/colour"} <= paths


def test_request_shape_violation_is_422(api: httpx.Client) -> None:
    """A body without a model, or with input that is not an object, answers 422."""
    assert error_of(api.post("/v1/jobs", json={"input": {}}), 422)["details"][0]["path"] == "model"
    error = error_of(api.post("/v1/jobs", json={"model": "noop", "input": [1]}), 422)
    assert error["details"][0]["path"] == "input"
    assert error_of(api.post("/v1/jobs", json=[1, 2]), 422)["code"] == "validation_error"
    typo = error_of(api.post("/v1/jobs", json={"model": "noop", "inputs": {}}), 422)
    assert typo["details"][0]["path"] == "inputs"


def test_unknown_model_is_404(api: httpx.Client) -> None:
    """Submitting to a model that does not exist answers 404 model_not_found."""
    error = error_of(api.post("/v1/jobs", json={"model": "gpt-17", "input": {}}), 404)
    assert error["code"] == "model_not_found"


# The body is refused before anything reaches the store.
@pytest.mark.backends("sqlite")
def test_body_over_the_limit_is_413(make_server) -> None:
    """A body over max_body_bytes answers 413, announced or streamed."""
    server: GenqServer = make_server(max_body_bytes=2000, workers=0)
    with server.client() as api:
        big = {"model": "noop", "input": {"output_text": "x" * 5000}}
        assert error_of(api.post("/v1/jobs", json=big), 413)["code"] == "payload_too_large"

        def chunks():
            yield b'{"model": "noop", "input": {"output_text": "'
            yield b"y" * 5000
            yield b'"}}'

        streamed = api.post("/v1/jobs", content=chunks())
        assert error_of(streamed, 413)["code"] == "payload_too_large"


def test_unknown_route_uses_the_error_shape(api: httpx.Client) -> None:
    """Unknown paths answer 404 in the one error shape."""
    assert error_of(api.get("/v1/nothing"), 404)["code"] == "not_found"
    assert error_of(api.get("/v1/jobs/job_doesnotexist"), 404)["code"] == "job_not_found"


@pytest.mark.parametrize("style", ["bearer", "plain", "x-api-key"])
def test_every_auth_header_style_works(server: GenqServer, style: str) -> None:
    """Authorization: Bearer KEY, Authorization: KEY and x-api-key: KEY all authenticate."""
    headers = {
        "bearer": {"Authorization": f"Bearer {server.key}"},
        "plain": {"Authorization": server.key},
        "x-api-key": {"x-api-key": server.key},
    }[style]
    assert httpx.get(f"{server.url}/v1/models", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer gq_wrong"}, {"x-api-key": "nope"}, {"Authorization": "Bearer"}],
)
def test_missing_or_unknown_key_is_401(server: GenqServer, headers: dict) -> None:
    """No key, or a key genq does not know, answers 401."""
    response = httpx.get(f"{server.url}/v1/jobs", headers=headers)
    assert error_of(response, 401)["code"] == "unauthorized"


def test_keys_cli_create_list_disable_delete(server: GenqServer) -> None:
    """`genq keys` creates keys (printed alone on the last line), lists, disables, deletes."""
    account = f"acme-{uuid.uuid4().hex[:6]}"
    created = server.cli("keys", "create", "--account", account, "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("gq_")
    with server.client(key) as api:
        assert api.get("/v1/jobs").status_code == 200
    listing = server.cli("keys", "list").stdout
    assert account in listing
    assert key not in listing  # only prefixes are shown
    key_id = next(line.split("│")[1].strip() for line in listing.splitlines() if account in line)
    assert server.cli("keys", "disable", key_id).returncode == 0
    with server.client(key) as api:
        assert refused_within(api, KEY_TTL_SECONDS)["code"] == "key_disabled"
    assert server.cli("keys", "delete", key_id).returncode == 0
    with server.client(key) as api:
        assert refused_within(api, KEY_TTL_SECONDS)["code"] == "unauthorized"
    missing = server.cli("keys", "delete", key_id)
    assert missing.returncode == 1
    assert "no key" in missing.stderr


def test_keys_cli_takes_credits_exactly(server: GenqServer) -> None:
    """`genq keys create --credits` keeps the balance as written, to the micro-credit, and
    refuses finer, negative or non-numeric balances without creating anything."""
    account = f"exact-{uuid.uuid4().hex[:6]}"
    created = server.cli("keys", "create", "--account", account, "--credits", "0.000001")
    assert created.returncode == 0, created.stderr
    assert "(credits: 0.000001)" in created.stdout
    for bad, message in [
        ("0.0000001", "whole number of micro-credits"),
        ("-1", "cannot be negative"),
        ("ten", "expected a number"),
    ]:
        refused = server.cli("keys", "create", "--account", f"{account}-x", "--credits", bad)
        assert refused.returncode == 2
        assert message in refused.stderr
    assert f"{account}-x" not in server.cli("keys", "list").stdout


def test_keys_of_one_account_share_its_jobs(server: GenqServer) -> None:
    """Two keys of the same account see the same jobs."""
    account = f"team-{uuid.uuid4().hex[:6]}"
    first, second = server.new_key(account), server.new_key(account)
    with server.client(first) as a, server.client(second) as b:
        job = a.post("/v1/jobs", json={"model": "noop", "input": {}}).json()
        assert b.get(f"/v1/jobs/{job['id']}").status_code == 200
        assert [j["id"] for j in b.get("/v1/jobs").json()["data"]] == [job["id"]]


def test_another_accounts_job_is_404_on_every_route(server: GenqServer) -> None:
    """Every job route answers 404 (never 403) for a job of another account."""
    owner = server.new_key(f"owner-{uuid.uuid4().hex[:6]}")
    other = server.new_key(f"other-{uuid.uuid4().hex[:6]}")
    with server.client(owner) as mine, server.client(other) as theirs:
        job = mine.post("/v1/jobs", json={"model": "noop", "input": {"output_text": "s"}}).json()
        wait_for(mine, job["id"])
        job_id = job["id"]
        for method, path in [
            ("GET", f"/v1/jobs/{job_id}"),
            ("GET", f"/v1/jobs/{job_id}?wait=1"),
            ("GET", f"/v1/jobs/{job_id}/events"),
            ("GET", f"/v1/jobs/{job_id}/outputs/0"),
            ("POST", f"/v1/jobs/{job_id}/cancel"),
            ("DELETE", f"/v1/jobs/{job_id}"),
        ]:
            response = theirs.request(method, path)
            assert error_of(response, 404)["code"] == "job_not_found", (method, path)
        assert theirs.get("/v1/jobs").json()["data"] == []
        # The owner still has it, untouched.
        assert mine.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
        assert mine.get(f"/v1/jobs/{job_id}/outputs/0").content == b"s"


def test_credits_are_checked_and_charged_once(server: GenqServer) -> None:
    """An account with credits is charged the actual cost once; past its balance: 402, with
    the balance left shown exactly."""
    key = server.new_key(f"paying-{uuid.uuid4().hex[:6]}", "--credits", "0.00025")
    idem = {"Idempotency-Key": uuid.uuid4().hex}
    with server.client(key) as api:
        body = {"model": "noop", "input": {}}
        first = api.post("/v1/jobs", json=body, headers=idem).json()
        assert wait_for(api, first["id"])["cost"]["actual"] == 0.0001
        # A replayed submit is not a second job and is not charged again.
        assert api.post("/v1/jobs", json=body, headers=idem).status_code == 200
        failed = api.post("/v1/jobs", json={"model": "noop", "input": {"fail": "x"}}).json()
        assert wait_for(api, failed["id"])["cost"]["actual"] == 0  # failures are free
        second = api.post("/v1/jobs", json=body).json()
        wait_for(api, second["id"])
        # Balance is now 0.00005: below the estimate.
        refused = api.post("/v1/jobs", json=body)
        error = error_of(refused, 402)
        assert error["code"] == "insufficient_credits"
        assert error["details"]["balance"] == 0.00005  # not 5.000000000000001e-05
        assert "available balance 0.00005 " in error["message"]


def test_first_start_key_is_private_and_stored_hashed(server: GenqServer) -> None:
    """The first key is written to a 0600 file and only its hash is in the job store."""
    import stat

    key_file = server.data_dir / "api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == server.key
    if server.backend.name == "sqlite":
        stored = b"".join(
            (server.data_dir / name).read_bytes()
            for name in ("genq.db", "genq.db-wal")
            if (server.data_dir / name).exists()
        )
        assert b"api_keys" in stored
    else:
        import psycopg

        with psycopg.connect(server.settings["db"].split("?")[0]) as conn:
            schema = server.settings["db"].split("schema=")[1]
            rows = conn.execute(f'SELECT key_hash, prefix FROM "{schema}".api_keys').fetchall()
        stored = repr(rows).encode()
        assert len(rows) >= 1
    assert server.key.encode() not in stored
    assert hashlib.sha256(server.key.encode()).hexdigest().encode() in stored


def test_unfinished_jobs_hold_their_estimate(make_server) -> None:
    """Queued jobs hold their estimate: a burst of submits cannot exceed the balance."""
    server: GenqServer = make_server(workers=0)
    key = server.new_key("bursty", "--credits", "0.00025")
    with server.client(key) as api:
        body = {"model": "noop", "input": {}}
        assert api.post("/v1/jobs", json=body).status_code == 202
        assert api.post("/v1/jobs", json=body).status_code == 202
        error = error_of(api.post("/v1/jobs", json=body), 402)
        assert error["details"]["held"] == 0.0002
        # Canceling a queued job releases what it held.
        first = api.get("/v1/jobs").json()["data"][0]
        api.post(f"/v1/jobs/{first['id']}/cancel")
        assert api.post("/v1/jobs", json=body).status_code == 202


def test_odd_ids_and_cursors_are_4xx_not_500(api: httpx.Client) -> None:
    """Oversized or non-ASCII cursors and Last-Event-IDs are 4xx."""
    import base64

    huge = base64.urlsafe_b64encode(b"s" + b"9" * 24).decode().rstrip("=")
    assert error_of(api.get("/v1/jobs", params={"cursor": huge}), 422)["code"] == (
        "validation_error"
    )
    job = api.post("/v1/jobs", json={"model": "noop", "input": {"output_text": "z"}}).json()
    wait_for(api, job["id"])
    for value in ("9" * 23, "-1", "1.5"):
        response = api.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": value})
        assert error_of(response, 422)["code"] == "validation_error"
    superscript = api.get(f"/v1/jobs/{job['id']}/events", headers=[(b"Last-Event-ID", b"\xb2")])
    assert error_of(superscript, 422)["code"] == "validation_error"


@pytest.mark.backends("sqlite")
def test_odd_link_parameters_are_403_not_500(api: httpx.Client) -> None:
    """A link to a file genq serves, with an expiry that is no number, is refused."""
    job = api.post("/v1/jobs", json={"model": "noop", "input": {"output_text": "z"}}).json()
    wait_for(api, job["id"])
    url = api.get(f"/v1/jobs/{job['id']}").json()["outputs"][0]["url"]
    base = url.split("?")[0]
    for query in ("expires=%C2%B2&signature=ab", f"expires={'9' * 5000}&signature=ab"):
        assert error_of(httpx.get(f"{base}?{query}"), 403)["code"] == "invalid_signature"


def test_float_for_an_integer_field_is_422(api: httpx.Client) -> None:
    """2.0 is not an integer to genq: the submit answers 422 rather than the job failing."""
    response = api.post("/v1/jobs", json={"model": "noop", "input": {"steps": 2.0}})
    assert error_of(response, 422)["details"][0]["path"] == "input/steps"


def test_blank_idempotency_key_is_no_key(api: httpx.Client) -> None:
    """An empty Idempotency-Key header does not tie unrelated submits to one job."""
    headers = [(b"Idempotency-Key", b"")]
    first = api.post("/v1/jobs", json={"model": "noop", "input": {}}, headers=headers)
    second = api.post(
        "/v1/jobs", json={"model": "noop", "input": {"output_text": "b"}}, headers=headers
    )
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] != second.json()["id"]


def test_another_authorization_scheme_falls_back_to_x_api_key(server: GenqServer) -> None:
    """Authorization: Basic ... (say, from a proxy) does not hide a valid x-api-key."""
    headers = {"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": server.key}
    assert httpx.get(f"{server.url}/v1/jobs", headers=headers).status_code == 200
