"""The disk guard through the API, in-process on each backend: with ``min_free_disk_bytes``
above the disk's free space every submit surface refuses new jobs with 503 ``storage_full``
and ``Retry-After`` (the native API and a dialect, each in its own shape), reads go on and
``/readyz`` stays ready, showing the space; under it, jobs are taken."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from genq import metrics
from genq.errors import StorageFull
from genq.keys import create_key
from genq.server import build_app
from genq.service import JobService
from genq.service.disk_guard import RETRY_AFTER_SECONDS
from genq.settings import Settings
from tests.http.test_account_api import Api
from tests.pg import drop_schema, new_schema, store_url

#: More than any disk the tests run on has free.
ABOVE_ANY_DISK = 1 << 62
NOOP = {"model": "noop", "input": {}}

MakeApi = Callable[[int], Api]


@pytest.fixture
def make_api(backend_name: str, tmp_path: Path) -> Iterator[MakeApi]:
    """An in-process server with the given ``min_free_disk_bytes``, on the test's backend."""
    schemas: list[str] = []
    clients: list[TestClient] = []

    def make(min_free: int) -> Api:
        db = {}
        if backend_name == "postgres":
            schemas.append(new_schema("disk"))
            db = {"db": store_url(schemas[-1])}
        settings = Settings(
            data_dir=tmp_path / f"data-{len(clients)}",
            min_free_disk_bytes=min_free,
            **db,  # type: ignore[arg-type]
        )
        app = build_app(settings, workers=False)
        service: JobService = app.state.service
        _, raw = create_key(service.store, "default", admin=True)
        client = TestClient(app).__enter__()
        clients.append(client)
        return Api(client, service.store, service, raw)

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    for schema in schemas:
        drop_schema(schema)


def test_a_full_disk_refuses_native_submits_with_retry_after(make_api: MakeApi) -> None:
    """A native submit: 503 storage_full, Retry-After, the free and kept bytes; counted; no
    job queued; reads still answer."""
    api = make_api(ABOVE_ANY_DISK)
    before = metrics.STORAGE_FULL._value.get()
    refused = api.post("/v1/jobs", json=NOOP)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    error = refused.json()["error"]
    assert error["code"] == "storage_full"
    assert error["details"]["min_free_bytes"] == ABOVE_ANY_DISK
    assert 0 <= error["details"]["free_bytes"] < ABOVE_ANY_DISK
    assert metrics.STORAGE_FULL._value.get() == before + 1
    listed = api.get("/v1/jobs")
    assert listed.status_code == 200
    assert listed.json()["data"] == []


def test_a_full_disk_refuses_a_dialects_submits_in_its_shape(make_api: MakeApi) -> None:
    """NetMind's create answers the refusal in NetMind's shape, with Retry-After."""
    api = make_api(ABOVE_ANY_DISK)
    refused = api.post("/v1/generation", json={"model": "noop", "config": {}})
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    body = refused.json()
    assert body["code"] == "storage_full"
    assert "disk" in body["detail"]
    assert "error" not in body


def test_a_full_disk_refuses_a_group_of_jobs(make_api: MakeApi) -> None:
    """A dialect's several jobs in one request (``submit_group``) are refused all together."""
    api = make_api(ABOVE_ANY_DISK)
    account = api.store.ensure_account("group", None, 0.0)

    async def submit() -> None:
        await api.service.submit_group(account.id, "noop", [({}, {}), ({}, {})], api="oxen")

    with pytest.raises(StorageFull):
        asyncio.run(submit())


def test_room_on_the_disk_takes_jobs(make_api: MakeApi) -> None:
    """Under the free space, the same submits are taken."""
    api = make_api(1)
    assert api.post("/v1/jobs", json=NOOP).status_code == 202
    assert api.post("/v1/generation", json={"model": "noop", "config": {}}).status_code == 200


def test_readyz_stays_ready_and_shows_the_space(make_api: MakeApi, tmp_path: Path) -> None:
    """A full disk keeps the process ready (it serves reads, downloads and deletes) and
    the storage check shows the free space and the threshold."""
    api = make_api(ABOVE_ANY_DISK)
    answer = api.client.get("/readyz")
    assert answer.status_code == 200, answer.text
    storage = answer.json()["checks"]["storage"]
    assert storage["ok"] is True
    assert storage["disk_full"] is True
    assert storage["disk_min_free_bytes"] == ABOVE_ANY_DISK
    free = shutil.disk_usage(tmp_path).free
    # The same disk, read a moment apart: within what the test run itself may write.
    assert abs(storage["disk_free_bytes"] - free) < 1 << 30
    roomy = make_api(1).client.get("/readyz").json()["checks"]["storage"]
    assert (roomy["disk_full"], roomy["disk_min_free_bytes"]) == (False, 1)


def test_a_full_disk_refuses_a_retry(make_api: MakeApi) -> None:
    """Running an ended job again makes a new job: refused alike while the disk is full."""
    api = make_api(1)
    job = api.post("/v1/jobs", json=NOOP).json()
    assert api.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "canceled"
    api.service.disk.min_free_bytes = ABOVE_ANY_DISK
    refused = api.post(f"/v1/jobs/{job['id']}/retry")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "storage_full"
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
