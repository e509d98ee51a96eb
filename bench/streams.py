"""Benchmark of event streams: ``python bench/streams.py [--followers N] [--postgres]``.

Starts a real ``genq serve`` (SQLite; with ``--postgres``, two ``genq serve`` on one fresh
PostgreSQL schema, the first with the workers), submits ``--jobs`` ``noop`` jobs that each
report ``--steps`` progress events over ``--seconds``, and opens ``--followers`` concurrent
``GET /v1/jobs/{id}/events`` streams spread evenly over the jobs (and over the APIs). The
jobs wait in the queue, behind one blocking job per worker, until every follower is
connected; then the blockers are canceled and the jobs run. It measures, for the API
processes:

- RSS before the followers connect and at its peak (sampled every half second);
- CPU seconds: ``connect`` until every follower is connected, per follower; ``steady``
  from then to the last stream's end, per event delivered (what each event costs: the
  target); ``all`` over both, per event delivered;

and, over all followers: how many got their job's terminal status event, and the events
delivered (progress events apart).

The followers are a lean client: an ``asyncio.Protocol`` per connection on uvloop, counting
``event:`` lines in the bytes as they come, in ``--client-procs`` processes of their own so
that the 2 shared cores are not spent parsing on the server's loop. (An httpx stream costs
tens of KB and several Python calls per event, so 10,000 of them in one process would
measure httpx.) The clients' CPU per event is printed too: when it nears the server's, the
client is the bound. Each process raises its file-descriptor limit to the hard limit, and
the servers inherit it.

``--baseline REV`` measures genq at that git revision first (from a worktree, as
``bench/reads.py`` does) and prints each figure beside it. ``--py-spy FILE`` records the
(first) API process's stacks while the followers run (raw format, for ``flamegraph.pl`` or
speedscope); the CPU it steals skews that run's figures. ``--strict`` exits 1 when a target is
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import psycopg
from embedded import verdict
from scale import DEFAULT_DB, drop_schema, free_port, schema_url

POSTGRES_URL = os.environ.get("GENQ_TEST_POSTGRES", DEFAULT_DB)
TARGETS = {"rss_mb_peak": 400.0, "cpu_ms_per_event": 0.05, "missed_terminal": 0}
#: A follower's counters, shared with the bench process: one row of this many per process.
CONNECTED, EVENTS, PROGRESS, TERMINAL, ENDED, FAILED = range(6)
COUNTERS = 6
TERMINAL_MARKS = (b'"status":"succeeded"', b'"status":"failed"', b'"status":"canceled"')


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Server:
    """One ``genq serve`` process on a free port."""

    def __init__(self, data_dir: Path, settings: dict[str, Any], source: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        config = data_dir.parent / f"{data_dir.name}.toml"
        config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
        self.log = data_dir.parent / f"{data_dir.name}.log"
        with self.log.open("wb") as log:
            command = ["serve", "--port", str(self.port), "--data-dir", str(data_dir)]
            self.process = subprocess.Popen(
                [sys.executable, "-m", "genq", *command, "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                # A baseline tree's genq comes first on the path, before this tree's install.
                cwd=source,
                env=None if source is None else {**os.environ, "PYTHONPATH": str(source)},
            )
        self.ps = psutil.Process(self.process.pid)

    def wait_up(self, workers: int | None) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"{self.url}/healthz", timeout=1).json()
                if health.get("workers") == workers:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"genq serve exited: see {self.log}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.url} did not come up within 2 minutes")

    def cpu_seconds(self) -> float:
        """CPU seconds of the API process itself (not its worker processes)."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Deployment:
    """The servers under test: one embedded, or two APIs on one PostgreSQL schema."""

    def __init__(self, tmp: Path, args: argparse.Namespace, source: Path | None) -> None:
        self.workers = args.jobs
        common = {"progress_interval_seconds": 0.0, "secret": secrets.token_hex(16)}
        self.schema: str | None = None
        if not args.postgres:
            self.db_url = f"sqlite:///{tmp / 'api1' / 'genq.db'}"
            self.servers = [Server(tmp / "api1", {**common, "workers": self.workers}, source)]
        else:
            self.schema = f"bench_streams_{secrets.token_hex(4)}"
            self.db_url = schema_url(POSTGRES_URL, self.schema)
            common |= {"db": self.db_url, "storage": f"file://{tmp / 'files'}"}
            first = Server(tmp / "api1", {**common, "workers": self.workers}, source)
            # The second API starts once the first has made the schema and the key.
            first.wait_up(self.workers)
            self.servers = [first, Server(tmp / "api2", {**common, "workers": 0}, source)]
        self.key = ""

    def wait_ready(self) -> None:
        """Until every API answers and every worker has registered (its imports done), so
        that the workers' start-up does not share the cores with what is measured."""
        for i, server in enumerate(self.servers):
            server.wait_up(self.workers if i == 0 else None)
        self.key = (self.servers[0].data_dir / "api-key").read_text().strip()
        deadline = time.monotonic() + 120
        while self.registered() < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError("the workers did not register within 2 minutes")
            time.sleep(0.2)

    def registered(self) -> int:
        query = "SELECT COUNT(*) FROM workers"
        if self.schema is None:
            path = self.db_url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path)) as db:
                return int(db.execute(query).fetchone()[0])
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            row = conn.execute(query).fetchone()
            return int(row[0]) if row else 0

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        if self.schema is not None:
            drop_schema(POSTGRES_URL, self.schema)


# -- the followers (in processes of their own) ---------------------------------------------


class Follower(asyncio.Protocol):
    """One event stream, read as raw bytes: counts ``event:`` lines, and notes the terminal
    status event. ``Connection: close`` makes the server close it after the last event."""

    def __init__(
        self, request: bytes, counts: list[int], answered: asyncio.Event, done: asyncio.Event
    ) -> None:
        self.request = request
        self.counts = counts
        self.answered = answered
        self.done = done
        self.head: bytes | None = b""  # None once the response's head has been read
        self.tail = b""
        self.terminal = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            head = self.head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self.head = head
                return
            if not head.startswith(b"HTTP/1.1 200"):
                self.transport.close()
                return
            self.counts[CONNECTED] += 1
            self.answered.set()
            data, self.head = head[end + 4 :], None
        # A mark cut in two by a read is found in the tail the last read left.
        seen = self.tail + data
        self.counts[EVENTS] += seen.count(b"event: ")
        self.counts[PROGRESS] += seen.count(b"event: progress")
        if not self.terminal and any(mark in seen for mark in TERMINAL_MARKS):
            self.terminal = True
            self.counts[TERMINAL] += 1
        self.tail = seen[-24:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.counts[ENDED] += 1
        if self.head is not None:  # closed before it answered
            self.counts[FAILED] += 1
            print(f"a stream closed before its answer: {exc!r} {self.head[:80]!r}", file=sys.stderr)
        self.answered.set()
        self.done.set()


async def follow_all(
    urls: list[str], key: str, job_ids: list[str], first: int, step: int, total: int, row: Any
) -> None:
    """Followers ``first, first + step, ...`` below ``total``: follower i follows job
    ``i % len(job_ids)`` through API ``i % len(urls)``."""
    loop = asyncio.get_running_loop()
    counts = [0] * COUNTERS
    # Requests not answered yet stay well below the server's listen backlog: a connection
    # the server has not accepted is still "made" here, so the gate holds until the answer.
    gate = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        host, port = urls[i % len(urls)].removeprefix("http://").split(":")
        request = (
            f"GET /v1/jobs/{job_ids[i % len(job_ids)]}/events HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        answered, done = asyncio.Event(), asyncio.Event()
        async with gate:
            for attempt in range(20):
                try:
                    await loop.create_connection(
                        lambda: Follower(request, counts, answered, done), host, int(port)
                    )
                    await answered.wait()
                    break
                except OSError:
                    await asyncio.sleep(0.05 * (attempt + 1))
            else:
                counts[FAILED] += 1
                counts[ENDED] += 1
                return
        await done.wait()

    async def publish() -> None:
        while True:
            row[:] = counts
            await asyncio.sleep(0.2)

    publisher = asyncio.create_task(publish())
    await asyncio.gather(*(one(i) for i in range(first, total, step)))
    publisher.cancel()
    row[:] = counts


def client_main(
    urls: list[str], key: str, job_ids: list[str], first: int, step: int, total: int, row: Any
) -> None:
    raise_fd_limit()
    import uvloop

    uvloop.run(follow_all(urls, key, job_ids, first, step, total, row))


# -- the measured run ----------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    counts: list[int]
    cpu: list[float]
    rss: list[int]
    client_cpu: float


@dataclass
class Run:
    before: Sample
    samples: list[Sample] = field(default_factory=list)

    def peak_rss(self, i: int) -> int:
        return max(s.rss[i] for s in [self.before, *self.samples])

    def all_connected(self, followers: int) -> Sample | None:
        return next(
            (s for s in self.samples if s.counts[CONNECTED] + s.counts[FAILED] >= followers), None
        )


def totals(rows: list[SynchronizedArray[Any]]) -> list[int]:
    return [sum(row[c] for row in rows) for c in range(COUNTERS)]


class Jobs:
    """The followed jobs, held queued behind one blocking job per worker until every
    follower is connected: their events all come while every stream is open."""

    def __init__(self, deployment: Deployment, args: argparse.Namespace) -> None:
        headers = {"Authorization": f"Bearer {deployment.key}"}
        self.http = httpx.Client(base_url=deployment.servers[0].url, headers=headers, timeout=30)
        blocker = {"model": "noop", "input": {"sleep_ms": 600_000}}
        self.blockers = [self.submit(blocker) for _ in range(deployment.workers)]
        while any(
            self.http.get(f"/v1/jobs/{b}").json()["status"] != "running" for b in self.blockers
        ):
            time.sleep(0.2)
        body = {
            "model": "noop",
            "input": {"sleep_ms": int(args.seconds * 1000), "steps": args.steps},
        }
        self.ids = [self.submit(body) for _ in range(args.jobs)]

    def submit(self, body: dict[str, Any]) -> str:
        response = self.http.post("/v1/jobs", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def status(self, job_id: str) -> str:
        return str(self.http.get(f"/v1/jobs/{job_id}").json()["status"])

    def release(self) -> None:
        for job_id in self.blockers:
            self.http.post(f"/v1/jobs/{job_id}/cancel").raise_for_status()
        self.http.close()


def sample(
    deployment: Deployment, rows: list[SynchronizedArray[Any]], clients: list[psutil.Process]
) -> Sample:
    client_cpu = 0.0
    for proc in clients:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            client_cpu += times.user + times.system
    return Sample(
        time.monotonic(),
        totals(rows),
        [s.cpu_seconds() for s in deployment.servers],
        [s.rss() for s in deployment.servers],
        client_cpu,
    )


@contextlib.contextmanager
def py_spy(pid: int, path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", path]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.send_signal(2)  # py-spy writes its file on SIGINT
        recorder.wait(60)


def follow(deployment: Deployment, jobs: Jobs, args: argparse.Namespace) -> Run:
    """Open the followers in ``--client-procs`` processes, start the jobs once they are all
    connected, and sample until every follower has ended."""
    context = multiprocessing.get_context("spawn")
    rows = [context.Array("q", COUNTERS, lock=False) for _ in range(args.client_procs)]
    urls = [s.url for s in deployment.servers]
    run = Run(sample(deployment, rows, []))
    procs = [
        context.Process(
            target=client_main,
            args=(urls, deployment.key, jobs.ids, i, args.client_procs, args.followers, row),
        )
        for i, row in enumerate(rows)
    ]
    with py_spy(deployment.servers[0].process.pid, args.py_spy):
        for proc in procs:
            proc.start()
        clients = [psutil.Process(p.pid) for p in procs if p.pid is not None]
        deadline = time.monotonic() + args.seconds + args.grace
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            time.sleep(0.5)
            run.samples.append(sample(deployment, rows, clients))
            if jobs.blockers and run.all_connected(args.followers):
                jobs.release()
                jobs.blockers = []
    for proc in procs:
        proc.kill()
        proc.join()
    run.samples.append(sample(deployment, rows, []))
    return run


def report(run: Run, deployment: Deployment, args: argparse.Namespace) -> dict[str, float]:
    end = next((s for s in run.samples if s.counts[ENDED] >= args.followers), run.samples[-1])
    connected = run.all_connected(args.followers)
    counts = end.counts
    events = counts[EVENTS]
    cpu_all = sum(end.cpu) - sum(run.before.cpu)
    print(
        f"followers: {counts[CONNECTED]} connected ({counts[FAILED]} failed),"
        f" {counts[TERMINAL]} got their terminal event, {counts[ENDED]} ended"
    )
    print(f"events delivered: {events} ({counts[PROGRESS]} progress)")
    if connected is not None:
        print(f"all connected after {connected.at - run.before.at:.1f} s")
    for i, server in enumerate(deployment.servers):
        before, peak = run.before.rss[i] / 2**20, run.peak_rss(i) / 2**20
        cpu = end.cpu[i] - run.before.cpu[i]
        print(
            f"API {i + 1} (pid {server.ps.pid}): RSS {before:.0f} MB before, {peak:.0f} MB at peak"
            f" (+{peak - before:.0f} MB); {cpu:.1f} CPU s"
        )
    cpu_ms = 1000 * cpu_all / max(events, 1)
    print(f"API CPU per event delivered: all {cpu_ms:.4f} ms (connects included)")
    steady_ms = cpu_ms
    if connected is not None:
        connect_ms = 1000 * (sum(connected.cpu) - sum(run.before.cpu)) / args.followers
        print(f"API CPU per follower connected: {connect_ms:.3f} ms")
    if connected is not None and events > connected.counts[EVENTS]:
        steady_events = events - connected.counts[EVENTS]
        steady_ms = 1000 * (sum(end.cpu) - sum(connected.cpu)) / steady_events
        print(
            f"                             steady {steady_ms:.4f} ms"
            f" ({steady_events} events after every follower connected)"
        )
    client_ms = 1000 * end.client_cpu / max(events, 1)
    print(f"follower clients' CPU per event: {client_ms:.4f} ms (their start included)")

    peak_rss = max(run.peak_rss(i) for i in range(len(deployment.servers))) / 2**20
    return {
        "rss_mb_peak": peak_rss,
        "cpu_ms_per_event": steady_ms,
        "connect_cpu_ms": connect_ms if connected is not None else float("nan"),
        "missed_terminal": args.followers - counts[TERMINAL],
    }


def main(args: argparse.Namespace) -> int:
    limit = raise_fd_limit()
    apis = "two APIs on PostgreSQL" if args.postgres else "SQLite, one API"
    print(
        f"genq streams bench: {apis}, {args.jobs} noop jobs of {args.steps} steps over"
        f" {args.seconds:g} s, {args.followers} followers in {args.client_procs}"
        f" client process(es), fd limit {limit}, {os.cpu_count()} CPUs shared"
    )
    return verdict(lambda source: measure(args, source), args, TARGETS)


def measure(args: argparse.Namespace, source: Path | None) -> dict[str, float]:
    """Every figure of genq from ``source`` (None: this tree), printed as measured."""
    with tempfile.TemporaryDirectory(prefix="genq-streams-") as tmp:
        deployment = Deployment(Path(tmp), args, source)
        try:
            deployment.wait_ready()
            run = follow(deployment, Jobs(deployment, args), args)
            figures = report(run, deployment, args)
            for server in deployment.servers:
                if log := server.log.read_text().strip():
                    print(f"\n{server.url}'s log ends:\n{log[-2000:]}")
            return figures
        finally:
            deployment.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=40, help="jobs, and worker processes")
    parser.add_argument("--steps", type=int, default=60, help="progress events per job")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each job runs")
    parser.add_argument(
        "--grace", type=float, default=120.0, help="how long followers may lag behind the jobs"
    )
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="two APIs on PostgreSQL")
    parser.add_argument("--py-spy", metavar="FILE", help="record the first API's stacks")
    parser.add_argument(
        "--baseline", metavar="REV", help="also measure genq at this git revision, first"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    sys.exit(main(parser.parse_args()))
