"""Across dialects: each can be switched off, aliases reach the native API too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from genq.http.dialects.registry import DIALECTS
from genq.settings import Settings
from tests.conftest import GenqServer, wait_for, wait_until

pytestmark = pytest.mark.backends("sqlite")

#: A create route of each dialect: with the dialect on, a broken body answers 400.
CREATE_ROUTES = {
    "netmind": "/v1/generation",
    "netmind_legacy": "/v1/netmind-video-job",
    "mindvideo": "/api/v1/tasks",
    "oxen": "/api/ai/queue",
    "segmind": "/v2/seedream-4.5",
    "replicate": "/replicate/v1/predictions",
    "fal": "/fal/queue/fal-ai/flux/schnell",
    "runpod": "/runpod/v2/demo-image/run",
}


def post_broken_body(server: GenqServer, path: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}",
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
        content=b"{",
    )


def test_every_dialect_is_on_by_default(server: GenqServer) -> None:
    """With no configuration every dialect's routes answer (here: 400 for a broken body)."""
    assert set(CREATE_ROUTES) == {dialect.name for dialect in DIALECTS}
    for path in CREATE_ROUTES.values():
        assert post_broken_body(server, path).status_code == 400, path


def test_dialects_switched_off_have_no_routes(make_server: Any) -> None:
    """A dialect with enabled = false has no routes at all, while the others and the native
    API keep working."""
    off = ("netmind", "oxen", "segmind")
    toml = "".join(f"[dialects.{name}]\nenabled = false\n" for name in off)
    server = make_server(toml=toml)
    for name, path in CREATE_ROUTES.items():
        expected = 404 if name in off else 400
        assert post_broken_body(server, path).status_code == expected, name
    with server.client() as api:
        job = api.post("/v1/jobs", json={"model": "noop", "input": {}})
        assert job.status_code == 202


def test_dialect_settings_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """GENQ_DIALECTS__NAME__KEY sets a dialect's settings; Oxen and Segmind keep their own
    documented retention (24 h and 1 h) unless set."""
    monkeypatch.setenv("GENQ_DIALECTS__SEGMIND__ENABLED", "false")
    monkeypatch.setenv("GENQ_DIALECTS__MINDVIDEO__RETENTION_SECONDS", "60")
    settings = Settings.load()
    assert settings.dialects["segmind"].enabled is False
    assert settings.dialects["segmind"].retention_seconds == 3600
    assert settings.dialects["mindvideo"].retention_seconds == 60
    assert settings.dialects["oxen"].retention_seconds == 24 * 3600
    assert settings.dialects["netmind"].retention_seconds is None


def test_native_submit_by_alias_keeps_the_alias(api: httpx.Client) -> None:
    """The native API takes an alias as the model: the job runs the aliased model and shows
    the name used as its origin."""
    submitted = api.post("/v1/jobs", json={"model": "seedream-4.5", "input": {"prompt": "x"}})
    assert submitted.status_code == 202, submitted.text
    job = wait_for(api, submitted.json()["id"])
    assert job["model"] == "demo-image"
    assert job["origin"] == {"api": "native", "model": "seedream-4.5"}
    assert job["status"] == "succeeded"


def test_a_priced_alias_sets_estimate_charge_and_default_inputs(make_server: Any) -> None:
    """Jobs submitted by a priced alias, natively or through a dialect, are estimated and
    charged at the alias's price and get its inputs unless they set them; the model's own
    name keeps the model's price."""
    server = make_server(
        toml='[aliases.pricey]\nmodel = "demo-image"\nprice = { per_output = 0.5 }\n'
        "input = { steps = 2, seed = 7 }\n"
    )
    with server.client() as api:
        aliased = api.post(
            "/v1/jobs",
            json={"model": "pricey", "input": {"prompt": "x", "num_images": 2, "seed": 9}},
        ).json()
        assert (aliased["input"]["steps"], aliased["input"]["seed"]) == (2, 9)
        own = api.post("/v1/jobs", json={"model": "demo-image", "input": {"prompt": "x"}}).json()
        assert aliased["cost"]["estimate"] == 1.0
        assert own["cost"]["estimate"] == 0.002
        assert wait_for(api, aliased["id"])["cost"]["actual"] == 1.0
        assert wait_for(api, own["id"])["cost"]["actual"] == 0.002
    task = httpx.post(
        f"{server.url}/api/v1/tasks",
        headers={"Authorization": f"Bearer {server.key}"},
        json={"model": "pricey", "input": {"prompt": "x"}},
    ).json()
    assert task["cost_estimate"] == 0.5


def test_models_list_their_aliases(api: httpx.Client) -> None:
    """GET /v1/models shows each model's aliases, and an alias describes its model."""
    models = {m["name"]: m for m in api.get("/v1/models").json()["data"]}
    assert "Qwen/Qwen-Image" in models["demo-image"]["aliases"]
    assert "hkchengrex/MMAudio" in models["demo-audio"]["aliases"]
    described = api.get("/v1/models/Qwen/Qwen-Image").json()
    assert described["name"] == "demo-image"


def test_each_dialect_reads_and_changes_only_its_own_jobs(server: GenqServer) -> None:
    """A job made through one dialect (or natively) is not found through another, which
    can neither read, cancel nor delete it: the job runs on untouched. The native API sees
    them all."""
    auth = {"Authorization": f"Bearer {server.key}"}
    queued = httpx.post(
        f"{server.url}/api/ai/queue",
        headers=auth,
        json={"model": "demo-image", "prompt": "x"},
    )
    assert queued.status_code == 200, queued.text
    oxen_id = queued.json()["generations"][0]["generation_id"]
    # A Segmind request that runs for a minute: a cancel or delete that went through shows.
    running = httpx.post(f"{server.url}/v2/noop", headers=auth, json={"sleep_ms": 60_000})
    segmind_id = running.json()["request_id"]
    with server.client() as native:
        wait_until(lambda: native.get(f"/v1/jobs/{segmind_id}").json()["status"] == "running")
    for job_id in (oxen_id, segmind_id):
        for method, path in (
            ("GET", f"/api/v1/tasks/{job_id}"),
            ("POST", f"/api/v1/tasks/{job_id}/cancel"),
            ("GET", f"/v1/generation/{job_id}"),
            ("DELETE", f"/v1/generation/{job_id}"),
            ("GET", f"/v1/netmind-image-job/{job_id}"),
            ("DELETE", f"/v1/netmind-image-job/{job_id}"),
            ("DELETE", f"/v1/netmind-video-job/{job_id}"),
        ):
            response = httpx.request(method, f"{server.url}{path}", headers=auth)
            assert response.status_code == 404, (method, path, response.text)
    for path in (f"/v2/requests/{oxen_id}", f"/v1/requests/{oxen_id}"):
        assert httpx.get(f"{server.url}{path}", headers=auth).status_code == 404, path
    # The server's first key belongs to the account "default": its Oxen namespace.
    refused = httpx.delete(f"{server.url}/api/media/generations/default/{segmind_id}", headers=auth)
    assert refused.status_code == 404
    with server.client() as native:
        oxen_job, segmind_job = (native.get(f"/v1/jobs/{i}") for i in (oxen_id, segmind_id))
        assert (oxen_job.status_code, segmind_job.status_code) == (200, 200), "a job was deleted"
        assert oxen_job.json()["cancel_requested"] is False
        assert oxen_job.json()["status"] != "canceled"
        assert segmind_job.json()["status"] == "running"
        assert segmind_job.json()["cancel_requested"] is False
        assert native.post(f"/v1/jobs/{segmind_id}/cancel").status_code == 200
        assert wait_for(native, segmind_id)["status"] == "canceled"
