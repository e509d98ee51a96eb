"""``/metrics``: genq's figures after known activity, and who may read them."""

from __future__ import annotations

import base64
import io
import multiprocessing
from ipaddress import ip_network
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from PIL import Image
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from genq import metrics
from genq.errors import StoreUnavailable
from genq.jobs import Claim
from genq.keys import create_key
from genq.media.fetch import RefusedReference
from genq.models.base import InputError
from genq.notify import LocalNotifier
from genq.server import build_app
from genq.settings import Settings
from genq.store import JobStore
from genq.worker.claims import ClaimLoop
from genq.worker.context import InHand, JobContext
from genq.worker.protocol import Hub, Idle
from genq.worker.runner import Worker
from genq.worker.supervisor import Supervisor, WorkerHandle
from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import submit

pytestmark = pytest.mark.backends("sqlite")

SECOND = """
[models.noop-b]
entrypoint = "genq.demos.noop:Noop"
"""


def scrape(api: httpx.Client | TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_figures_after_known_activity(make_server) -> None:
    """Jobs submitted and finished by model, status and API, their wait and run histograms,
    batches and model loads, and the queue as the store has it, are exact after n jobs per
    model, a failure and two cancels (one queued, one running); the workers alive and busy are
    counted at each scrape."""
    server: GenqServer = make_server(workers=1, toml=SECOND)
    with server.client() as api:
        held = submit(api, {"sleep_ms": 60_000, "steps": 600})["id"]
        wait_until(lambda: api.get(f"/v1/jobs/{held}").json()["status"] == "running")
        # The only worker is busy: this one stays queued until canceled.
        queued = submit(api, {}, model="noop-b")["id"]
        samples = scrape(api)
        assert value(samples, "genq_queue_depth", model="noop-b") == 1
        assert (value(samples, "genq_queue_oldest_age_seconds", model="noop-b") or -1) >= 0
        assert value(samples, "genq_workers", state="alive") == 1
        assert value(samples, "genq_workers", state="busy") == 1
        assert api.post(f"/v1/jobs/{queued}/cancel").json()["status"] == "canceled"
        api.post(f"/v1/jobs/{held}/cancel")
        wait_for(api, held)
        ids = [submit(api, {}, model=model)["id"] for model in ("noop", "noop-b") for _ in range(3)]
        ids.append(submit(api, {"fail": "on purpose"})["id"])
        for job_id in ids:
            wait_for(api, job_id)
        finished = "genq_jobs_finished_total"
        wanted = {
            ("noop", "succeeded"): 3,
            ("noop", "failed"): 1,
            ("noop", "canceled"): 1,
            ("noop-b", "succeeded"): 3,
            ("noop-b", "canceled"): 1,
        }

        def counted() -> dict[tuple[str, str], float | None]:
            now = scrape(api)
            return {(m, s): value(now, finished, model=m, status=s) for m, s in wanted}

        # The worker tells its supervisor just after the end is committed.
        wait_until(lambda: counted() == wanted)
        samples = scrape(api)
    submitted = "genq_jobs_submitted_total"
    assert value(samples, submitted, model="noop", api="native") == 5
    assert value(samples, submitted, model="noop-b", api="native") == 4
    # A job canceled while queued never started: it has no wait or run time.
    assert value(samples, "genq_job_queue_wait_seconds_count", model="noop") == 5
    assert value(samples, "genq_job_queue_wait_seconds_count", model="noop-b") == 3
    assert value(samples, "genq_job_run_seconds_count", model="noop-b") == 3
    assert value(samples, "genq_model_loads_total", model="noop", outcome="ok") == 1
    assert value(samples, "genq_model_load_seconds_count", model="noop-b") == 1
    assert value(samples, "genq_batch_size_sum", model="noop") == 5
    assert value(samples, "genq_queue_depth", model="noop-b") is None
    assert (value(samples, "genq_worker_busy_seconds_total") or 0) > 0


def test_metrics_are_refused_to_other_clients_without_an_admin_key(tmp_path: Path) -> None:
    """From an address that is not loopback, /metrics answers 403 in the native error shape
    without a key or with a non-admin key, 200 with an admin key or from a network of
    ``metrics_allow``; a loopback client needs no key."""
    settings = Settings(data_dir=tmp_path / "data", metrics_allow=[ip_network("10.1.0.0/16")])
    app = build_app(settings, workers=False)
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        store = app.state.service.store
        _, admin = create_key(store, "ops", name="ops", admin=True)
        _, plain = create_key(store, "someone", name="someone", admin=False)
        assert local.get("/metrics").status_code == 200
    with TestClient(app, client=("203.0.113.9", 5000)) as remote:
        for headers in ({}, {"Authorization": f"Bearer {plain}"}):
            refused = remote.get("/metrics", headers=headers)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "forbidden"
        assert remote.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).is_success
    with TestClient(app, client=("10.1.2.3", 5000)) as allowed:
        assert allowed.get("/metrics").status_code == 200


def test_http_requests_by_route_template_and_status(tmp_path: Path) -> None:
    """Each answered request counts once under its method, its route's path template (never
    the raw path), and its status, with its time in the duration histogram; paths no route
    takes share the route ``(none)``, and methods outside the usual ones share ``other``."""
    app = build_app(Settings(data_dir=tmp_path / "data"), workers=False)
    with TestClient(app, client=("127.0.0.1", 5000)) as api:
        before = scrape(api)
        for _ in range(3):
            assert api.get("/healthz").status_code == 200
        for job_id in ("job-a", "job-b"):
            assert api.get(f"/v1/jobs/{job_id}").status_code == 401
        for path in ("/no/such/path", "/another/one"):
            assert api.get(path).status_code == 404
        assert api.request("BREW", "/healthz").status_code == 405
        after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    total = "genq_http_requests_total"
    duration = "genq_http_request_duration_seconds_count"
    assert grew(total, method="GET", route="/healthz", status="200") == 3
    assert grew(duration, method="GET", route="/healthz") == 3
    assert grew(total, method="GET", route="/v1/jobs/{job_id}", status="401") == 2
    assert grew(total, method="GET", route="(none)", status="404") == 2
    assert grew(total, method="other", route="/healthz", status="405") == 1
    # The first scrape is counted once it is answered: the second one saw it.
    assert grew(total, method="GET", route="/metrics", status="200") == 1
    # This process runs no workers: it has no worker count to show.
    assert not [name for name, _ in after if name == "genq_workers"]
    routes = {dict(labels)["route"] for name, labels in after if name == total}
    assert not routes & {"/v1/jobs/job-a", "/no/such/path", "/another/one"}
    assert (
        value(after, "genq_http_request_duration_seconds_sum", method="GET", route="/healthz") or 0
    ) > 0


def registry_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of this process's figures, read back through the text format."""
    text = generate_latest(metrics.REGISTRY).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_store_errors_answered_503_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request answered 503 because the store could not be reached counts once as a store
    error of kind ``request``; other refusals (404) do not count."""
    app = build_app(Settings(data_dir=tmp_path / "data"), workers=False)
    with TestClient(app, client=("127.0.0.1", 5000)) as api:
        service = app.state.service
        _, key = create_key(service.store, "acct", name="acct", admin=False)
        headers = {"Authorization": f"Bearer {key}"}
        before = scrape(api)
        assert api.get("/v1/jobs/missing", headers=headers).status_code == 404

        async def unreachable(*args: object, **kwargs: object) -> None:
            raise StoreUnavailable("the database is unavailable: test")

        monkeypatch.setattr(service, "get", unreachable)
        for _ in range(2):
            answer = api.get("/v1/jobs/any", headers=headers)
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "store_unavailable"
        after = scrape(api)
    name = "genq_store_errors_total"
    grown = (value(after, name, kind="request") or 0) - (value(before, name, kind="request") or 0)
    assert grown == 2


def test_a_workers_store_errors_reach_the_figures_through_its_supervisor(tmp_path: Path) -> None:
    """A worker's claim that met a store outage (then went through) is told with its next
    Idle, and the supervisor adds it to genq_store_errors_total{kind="claim"}."""
    worker_end, supervisor_end = multiprocessing.Pipe()
    hub = Hub(worker_end)
    loop = ClaimLoop(Settings(data_dir=tmp_path), cast(JobStore, None), "w-t", [], hub, InHand())
    supervisor = Supervisor(Settings(data_dir=tmp_path), cast(JobStore, None), LocalNotifier(), 1)
    handle = WorkerHandle("w-t", cast(BaseProcess, None), supervisor_end)
    outcomes: list[Exception | None] = [StoreUnavailable("down"), StoreUnavailable("down"), None]

    def claim() -> list[str]:
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure
        return []

    before = value(registry_samples(), "genq_store_errors_total", kind="claim") or 0
    assert loop.until_available(claim) == []
    hub.send(Idle())
    supervisor._on_message(handle, supervisor_end.recv())
    after = value(registry_samples(), "genq_store_errors_total", kind="claim") or 0
    assert after - before == 2


def png_data_uri(width: int, height: int) -> str:
    picture = io.BytesIO()
    Image.new("RGB", (width, height)).save(picture, format="PNG")
    return "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()


def test_reference_refusals_reach_the_figures_through_the_supervisor(tmp_path: Path) -> None:
    """Each reference a worker's job refuses counts once under its reason (too large, too
    many pixels, a private address, not an image, malformed), told with the worker's next
    Idle; a reference it takes counts nothing."""
    settings = Settings(data_dir=tmp_path, reference_max_bytes=2000, reference_max_pixels=64 * 64)
    worker_end, supervisor_end = multiprocessing.Pipe()
    hub = Hub(worker_end)
    worker = cast(Worker, SimpleNamespace(settings=settings, hub=hub))
    job = SimpleNamespace(id="j1", timeout_seconds=None, started_at=None)
    ctx = JobContext(worker, cast(Claim, SimpleNamespace(job=job)))
    refused = {
        "too_large": "data:text/plain," + "x" * 3000,
        "too_many_pixels": png_data_uri(100, 100),
        "private_address": "http://127.0.0.1:9/cat.png",
        "bad_type": "data:text/plain,hello",
        "malformed": "data:image/png;base64",
    }
    name = "genq_reference_refusals_total"
    before = {reason: value(registry_samples(), name, reason=reason) or 0 for reason in refused}
    assert ctx.fetch_image(png_data_uri(8, 8)).size == (8, 8)
    for reason, ref in refused.items():
        # Still the InputError a model lets through: the job fails with invalid_input.
        with pytest.raises(InputError) as caught:
            ctx.fetch_image(ref)
        assert isinstance(caught.value, RefusedReference)
        assert caught.value.kind == reason
    hub.send(Idle())
    supervisor = Supervisor(settings, cast(JobStore, None), LocalNotifier(), 1)
    handle = WorkerHandle("w-t", cast(BaseProcess, None), supervisor_end)
    supervisor._on_message(handle, supervisor_end.recv())
    after = registry_samples()
    assert {r: (value(after, name, reason=r) or 0) - before[r] for r in refused} == dict.fromkeys(
        refused, 1
    )
