"""Benchmark of embedded genq: ``python bench/embedded.py``.

Starts ``genq serve`` on a fresh data dir and measures, through HTTP:

- sustained ``noop`` (sleep 0) jobs/s from submit to terminal, with concurrent clients;
- end-to-end latency p50/p99 (submit to terminal, seen by a ``?wait`` client), one client;
- the server's CPU per job: CPU seconds of ``genq serve`` and its worker processes over the
  measured window, divided by jobs completed;
- ``GET /v1/jobs/{id}`` requests/s;
- the idle gap a worker leaves between back-to-back jobs (from the jobs' own timestamps).

Floor, in the same run: ``GET /healthz`` requests/s and CPU per request, the HTTP stack under
genq. With ``--baseline REV`` the same is measured first on genq at that git revision (served
from a worktree, as ``bench/reads.py`` does) and each figure is printed beside it. The load
generator shares this machine, so compare servers by CPU per job, not by jobs/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from baseline import baseline_tree

TARGETS = {"cpu_ms_per_job": 0.6, "p50_ms_one_client": 3.0, "worker_gap_ms_median": 2.0}


@dataclass
class Window:
    count: int
    seconds: float
    cpu_seconds: float
    api_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_ms_each(self) -> float:
        return 1000 * self.cpu_seconds / max(self.count, 1)

    @property
    def split(self) -> str:
        api = 1000 * self.api_cpu_seconds / max(self.count, 1)
        return f"API process {api:.3f} + workers {self.cpu_ms_each - api:.3f}"


class Server:
    def __init__(self, workers: int, data_dir: Path, source: Path | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        config = data_dir.parent / "bench.toml"
        config.write_text(f"workers = {workers}\n")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "genq",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--config",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # A baseline tree's genq comes first on the path, before this tree's install.
            cwd=source,
            env=None if source is None else {**os.environ, "PYTHONPATH": str(source)},
        )
        self.wait_ready(workers)
        self.key = (data_dir / "api-key").read_text().strip()
        self.ps = psutil.Process(self.process.pid)

    def wait_ready(self, workers: int) -> None:
        """Until every worker process has started: ``/healthz`` counts a worker once it is
        spawned, but it registers in the store only once its imports are done, and that CPU
        must not land in the first measured window."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, sqlite3.Error):
                health = httpx.get(f"{self.url}/healthz", timeout=1).json()
                if health.get("workers") == workers and self.registered() == workers:
                    return
            time.sleep(0.1)
        raise TimeoutError("the server's workers did not start within a minute")

    def registered(self) -> int:
        with contextlib.closing(sqlite3.connect(self.data_dir / "genq.db")) as db:
            return int(db.execute("SELECT COUNT(*) FROM workers").fetchone()[0])

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds of genq serve and its workers together, and of genq serve alone."""
        total = api = 0.0
        for proc in [self.ps, *self.ps.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
                if proc is self.ps:
                    api = times.user + times.system
        return total, api

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


async def measure(
    server: Server,
    clients: int,
    seconds: float,
    one: Callable[[httpx.AsyncClient], Awaitable[None]],
) -> Window:
    """Run ``one`` in a loop on ``clients`` concurrent clients for ``seconds``."""
    headers = {"Authorization": f"Bearer {server.key}"}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, limits=limits, timeout=60
    ) as http:
        await one(http)  # warm up
        done = 0
        stop_at = time.monotonic() + seconds

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < stop_at:
                await one(http)
                done += 1

        (cpu0, api0), t0 = server.cpu_seconds(), time.monotonic()
        await asyncio.gather(*(loop() for _ in range(clients)))
        cpu1, api1 = server.cpu_seconds()
        return Window(done, time.monotonic() - t0, cpu1 - cpu0, api1 - api0)


async def run_noop(http: httpx.AsyncClient, latencies: list[float] | None = None) -> None:
    started = time.perf_counter()
    job = (await http.post("/v1/jobs", json={"model": "noop", "input": {}})).json()
    while job["status"] in ("queued", "running"):
        job = (await http.get(f"/v1/jobs/{job['id']}", params={"wait": 30})).json()
    if latencies is not None:
        latencies.append(time.perf_counter() - started)
    assert job["status"] == "succeeded", job


async def worker_gaps(server: Server, workers: int, jobs: int) -> list[float]:
    """Queue ``jobs`` no-op jobs at once; for each worker, the gaps between the end of one of
    its jobs and the start of its next (read from the job store, to the microsecond)."""
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        # Keep every worker busy while the measured jobs are queued, so that they run back
        # to back rather than as fast as one client can submit them.
        blockers = [
            (await http.post("/v1/jobs", json={"model": "noop", "input": {"sleep_ms": 3000}}))
            for _ in range(workers)
        ]
        ids = []
        for _ in range(jobs):
            job = (await http.post("/v1/jobs", json={"model": "noop", "input": {}})).json()
            ids.append(job["id"])
        for job_id in [*ids, *(b.json()["id"] for b in blockers)]:
            await http.get(f"/v1/jobs/{job_id}", params={"wait": 60})
    marks = ",".join("?" * len(ids))
    with contextlib.closing(sqlite3.connect(server.data_dir / "genq.db")) as db:
        rows = db.execute(
            f"SELECT worker_id, started_at, finished_at FROM jobs WHERE id IN ({marks})"
            " ORDER BY worker_id, started_at",
            ids,
        ).fetchall()
    gaps = []
    for (worker, _, end), (next_worker, start, _) in itertools.pairwise(rows):
        if worker == next_worker:
            gaps.append(start - end)
    return gaps


async def run_noop_sync(http: httpx.AsyncClient) -> None:
    """One request per job: the submit itself waits (``Prefer: wait``)."""
    response = await http.post(
        "/v1/jobs", json={"model": "noop", "input": {}}, headers={"Prefer": "wait=30"}
    )
    job = response.json()
    while job["status"] in ("queued", "running"):
        job = (await http.get(f"/v1/jobs/{job['id']}", params={"wait": 30})).json()
    assert job["status"] == "succeeded", job


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(args: argparse.Namespace) -> int:
    print(
        f"genq bench: {args.workers} worker(s), {args.clients} clients, {args.seconds:g} s "
        f"windows, {os.cpu_count()} CPUs shared with the load generator"
    )
    return verdict(lambda source: asyncio.run(measure_genq(args, source)), args, TARGETS)


async def measure_genq(args: argparse.Namespace, source: Path | None) -> dict[str, float]:
    """Every figure of genq from ``source`` (None: this tree), printed as measured."""
    with tempfile.TemporaryDirectory(prefix="genq-bench-") as tmp:
        server = Server(args.workers, Path(tmp) / "data", source)
        try:
            return await run_all(server, args)
        finally:
            server.stop()


async def run_all(server: Server, args: argparse.Namespace) -> dict[str, float]:
    seconds = args.seconds

    async def healthz(http: httpx.AsyncClient) -> None:
        (await http.get("/healthz")).raise_for_status()

    # Every worker loads the model before anything is measured.
    await measure(server, args.clients, 1.0, run_noop)
    base = await measure(server, args.clients, seconds, healthz)
    print(
        f"baseline GET /healthz        {base.rate:8.0f} req/s   {base.cpu_ms_each:6.3f} ms CPU/req"
    )

    throughput = await measure(server, args.clients, seconds, run_noop)
    print(
        f"noop jobs, submit→terminal   {throughput.rate:8.0f} jobs/s  "
        f"{throughput.cpu_ms_each:6.3f} ms CPU/job "
        f"(= {throughput.cpu_ms_each / base.cpu_ms_each:.1f}x a /healthz request)"
    )
    print(f"                             CPU/job: {throughput.split}")
    sync = await measure(server, args.clients, seconds, run_noop_sync)
    print(
        f"noop jobs, Prefer: wait      {sync.rate:8.0f} jobs/s  {sync.cpu_ms_each:6.3f} ms CPU/job"
        f" ({sync.split})"
    )

    latencies: list[float] = []
    await measure(server, 1, seconds, lambda http: run_noop(http, latencies))
    p50, p99 = 1000 * percentile(latencies, 0.5), 1000 * percentile(latencies, 0.99)
    print(
        f"latency, one client          p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
        f"   ({len(latencies)} jobs)"
    )

    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        job_id = (await http.post("/v1/jobs", json={"model": "noop", "input": {}})).json()["id"]

    async def get_job(http: httpx.AsyncClient) -> None:
        (await http.get(f"/v1/jobs/{job_id}")).raise_for_status()

    gets = await measure(server, args.clients, seconds, get_job)
    print(
        f"GET /v1/jobs/{{id}}            {gets.rate:8.0f} req/s"
        f"   {gets.cpu_ms_each:6.3f} ms CPU/req"
    )

    gaps = await worker_gaps(server, args.workers, args.gap_jobs)
    gap_median = 1000 * statistics.median(gaps)
    print(
        f"worker gap between jobs      median {gap_median:5.2f} ms   "
        f"p90 {1000 * percentile(gaps, 0.9):5.2f} ms   ({len(gaps)} gaps, {args.workers} workers)"
    )

    return {
        "healthz_cpu_ms": base.cpu_ms_each,
        "cpu_ms_per_job": throughput.cpu_ms_each,
        "api_cpu_ms_per_job": 1000 * throughput.api_cpu_seconds / max(throughput.count, 1),
        "prefer_wait_cpu_ms_per_job": sync.cpu_ms_each,
        "p50_ms_one_client": p50,
        "p99_ms_one_client": p99,
        "get_job_cpu_ms": gets.cpu_ms_each,
        "worker_gap_ms_median": gap_median,
    }


def verdict(
    measure: Callable[[Path | None], dict[str, float]],
    args: argparse.Namespace,
    targets: dict[str, float],
) -> int:
    """Measure genq from this tree (None) with ``measure``, after genq at ``--baseline`` (from
    a worktree) when one is given; print each figure beside the baseline's and each target's
    verdict. The exit status: 1 when ``--strict`` and a target is missed."""
    before = None
    if args.baseline:
        with baseline_tree(args.baseline) as (commit, tree):
            print(f"\ngenq {commit} (baseline)")
            before = measure(tree)
    print("\ngenq now")
    figures = measure(None)
    if before is not None:
        compare(before, figures)
    misses = judge({name: figures[name] for name in targets}, targets)
    return 1 if misses and args.strict else 0


def compare(before: dict[str, float], now: dict[str, float]) -> None:
    """Print each figure beside the baseline's."""
    print(f"\nfigure                       {'baseline':>10} {'now':>10}    now/baseline")
    for name, value in now.items():
        ratio = f"x{value / before[name]:.2f}" if before[name] else "—"
        print(f"{name:28} {before[name]:10.3f} {value:10.3f}    {ratio}")


def judge(figures: dict[str, float], targets: dict[str, float]) -> int:
    """Print each figure beside its target (at most it); the number of targets missed."""
    print("\ntarget                       measured     target   verdict")
    misses = 0
    for name, target in targets.items():
        ok = figures[name] <= target
        misses += not ok
        print(f"{name:28} {figures[name]:8.3f} ≤ {target:8.3f}   {'met' if ok else 'MISSED'}")
    return misses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--gap-jobs", type=int, default=200)
    parser.add_argument(
        "--baseline", metavar="REV", help="also measure genq at this git revision, first"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    sys.exit(main(parser.parse_args()))
