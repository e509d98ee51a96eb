"""``genq worker --metrics-port``: a real ``genq worker`` serves its workers' figures beside an
API process that runs none, on one SQLite file, and neither serves what the other counts."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from genq import metrics
from tests.conftest import GenqServer, free_port, wait_for, wait_until
from tests.http.test_jobs import submit
from tests.http.test_metrics import scrape, value

pytestmark = pytest.mark.backends("sqlite")

#: Some of what only an API process serves.
API_ONLY = {"genq_jobs_submitted", "genq_http_requests", "genq_queue_depth"}


@pytest.fixture
def start_worker() -> Iterator[Any]:
    """Start ``genq worker`` on a server's data dir and settings; each is stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(server: GenqServer, *args: str, **env: str) -> subprocess.Popen[bytes]:
        server.data_dir.mkdir(parents=True, exist_ok=True)
        log = server.data_dir.parent / "worker.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "genq",
                    "worker",
                    "--data-dir",
                    str(server.data_dir),
                    "--config",
                    str(server.config),
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**server.env, **env},
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                for child in psutil.Process(process.pid).children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
                process.kill()
                process.wait()


def families(client: httpx.Client) -> set[str]:
    """The names of the families /metrics serves, samples or not (their ``_created`` aside)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    names = {family.name for family in text_string_to_metric_families(response.text)}
    return {name for name in names if not name.endswith("_created")}


def listening(pid: int) -> set[tuple[str, int]]:
    """The addresses a process and its children listen on."""
    parent = psutil.Process(pid)
    found = set()
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
    return found


def test_a_worker_serves_its_figures_and_the_api_none_of_them(
    make_server: Any, start_worker: Any
) -> None:
    """After three jobs that succeed and one that fails, a `genq worker --metrics-port` serves
    exact figures of its workers (one model load, four runs, batches and idle gaps, busy time,
    one worker alive and none busy) on loopback only, and nothing of the API's; the API process
    serves the submissions and none of the worker figures, so the sum of both counts each job
    once. SIGTERM stops the server with the workers."""
    server: GenqServer = make_server(workers=0)
    port = free_port()
    worker = start_worker(server, "--metrics-port", str(port))
    exporter = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def ready() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return value(scrape(exporter), "genq_workers", state="alive") == 1
        return False

    wait_until(ready)
    assert listening(worker.pid) == {("127.0.0.1", port)}
    with server.client() as api:
        ids = [submit(api, {"output_text": str(i)})["id"] for i in range(3)]
        ids.append(submit(api, {"fail": "on purpose"})["id"])
        statuses = [wait_for(api, job_id)["status"] for job_id in ids]
        assert statuses == ["succeeded", "succeeded", "succeeded", "failed"]
        # A call's batch size and busy time come with the worker's next message.
        wait_until(lambda: value(scrape(exporter), "genq_batch_size_count", model="noop") == 4)
        own = scrape(exporter)
        served_by_api = scrape(api)
        api_families = families(api)
    finished = "genq_jobs_finished_total"
    assert value(own, finished, model="noop", status="succeeded") == 3
    assert value(own, finished, model="noop", status="failed") == 1
    assert value(own, "genq_model_loads_total", model="noop", outcome="ok") == 1
    assert value(own, "genq_model_load_seconds_count", model="noop") == 1
    assert value(own, "genq_job_run_seconds_count", model="noop") == 4
    assert value(own, "genq_job_queue_wait_seconds_count", model="noop") == 4
    assert value(own, "genq_batch_size_sum", model="noop") == 4
    assert value(own, "genq_worker_idle_gap_seconds_count") == 3
    assert (value(own, "genq_worker_busy_seconds_total") or 0) > 0
    assert value(own, "genq_credits_charged_total", model="noop") == pytest.approx(0.0003)
    assert value(own, "genq_workers", state="alive") == 1
    assert value(own, "genq_workers", state="busy") == 0
    assert families(exporter) == metrics.WORKER_SIDE | metrics.SHARED | {"genq_workers"}

    assert value(served_by_api, "genq_jobs_submitted_total", model="noop", api="native") == 4
    assert api_families >= metrics.SHARED | API_ONLY
    assert not api_families & (metrics.WORKER_SIDE | {"genq_workers"})
    # The API ended none of these jobs: the one count of each is the worker's.
    assert not [name for name, _ in served_by_api if name == finished]
    assert not [name for name, _ in served_by_api if name.startswith("genq_job_run_seconds")]

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    with pytest.raises(httpx.ConnectError):
        exporter.get("/metrics")
    exporter.close()


#: An example of each observation a worker may send (``metrics.OBSERVED``).
EXAMPLES = {
    "finished": ("example", "succeeded"),
    "queue_wait": ("example",),
    "run": ("example",),
    "credits": ("example",),
    "batch": ("example",),
    "load": ("example",),
    "loaded": ("example", "ok"),
    "evicted": ("example",),
    "busy": (),
    "idle_gap": (),
    "store_error": ("claim",),
    "reference_refused": ("too_large",),
    "retried": ("example", "model_error"),
}


def test_every_figure_a_worker_tells_is_served_by_a_genq_worker() -> None:
    """Each observation a worker may send its supervisor adds to a family that a `genq worker`
    serves (a worker-side or a shared one), never to one only API processes serve."""
    assert set(EXAMPLES) == set(metrics.OBSERVED)

    def counted() -> dict[tuple[str, str, tuple[tuple[str, str], ...]], float]:
        return {
            (family.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in metrics.REGISTRY.collect()
            for sample in family.samples
            if not sample.name.endswith("_created")
        }

    grown: set[str] = set()
    for name, labels in EXAMPLES.items():
        before = counted()
        metrics.add([(name, labels, 1.0)])
        changed = {key[0] for key, figure in counted().items() if before.get(key) != figure}
        assert changed, name
        grown |= changed
    assert grown <= metrics.WORKER_SIDE | metrics.SHARED
    assert grown >= metrics.WORKER_SIDE


def test_without_a_metrics_port_a_worker_listens_on_no_port(
    tmp_path: Path, start_worker: Any
) -> None:
    """`genq worker` without --metrics-port (nor its setting) serves no figures: neither it
    nor its worker processes listen on any port."""
    server = GenqServer(tmp_path / "data")
    worker = start_worker(server)
    log = tmp_path / "worker.log"
    wait_until(lambda: log.exists() and "genq worker: 1 process(es)" in log.read_text())
    wait_until(lambda: len(psutil.Process(worker.pid).children()) >= 1)
    assert listening(worker.pid) == set()
    assert "figures at" not in log.read_text()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


@pytest.mark.parametrize("given_by", ["option", "environment"])
def test_a_taken_metrics_port_stops_the_worker_with_a_clear_message(
    tmp_path: Path, start_worker: Any, given_by: str
) -> None:
    """A metrics port another process holds, given as --metrics-port or as
    GENQ_WORKER_METRICS_PORT, makes `genq worker` exit 2 with one line naming the address and
    the reason, before any worker process starts; no traceback."""
    server = GenqServer(tmp_path / "data")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        if given_by == "option":
            worker = start_worker(server, "--metrics-port", str(port))
        else:
            worker = start_worker(server, GENQ_WORKER_METRICS_PORT=str(port))
        assert worker.wait(30) == 2
    output = (tmp_path / "worker.log").read_text()
    assert output == f"error: cannot serve metrics on 127.0.0.1:{port}: Address already in use\n"
