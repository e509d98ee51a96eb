"""Benchmark of scaled-out genq (PostgreSQL job store): ``python bench/scale.py``.

For each topology, ``--apis`` API processes (``genq serve --no-workers``) times ``--workers``
worker processes (one ``genq worker --concurrency N``), each on a fresh PostgreSQL schema,
plus the SQLite embedded baseline (``genq serve``, ``--baseline-workers`` workers) under the
same load, it measures through HTTP:

- sustained ``noop`` jobs/s from ``--clients`` concurrent clients over ``--seconds`` (after
  ``--warmup``), each client submitting a job and then waiting for it to end
  (``GET /v1/jobs/{id}?wait=30``, or one ``Prefer: wait`` request with ``--prefer-wait``),
  clients spread round-robin over the APIs;
- end-to-end latency p50/p99 (submit to terminal) with one client; with several APIs it
  submits to one and waits on the next, as behind a load balancer, so the figure includes
  the PostgreSQL notification from one API process to another;
- genq's CPU per job: CPU seconds of every API process and every worker supervisor, with
  their children, over the measured window, divided by the jobs completed in it (split API /
  workers);
- PostgreSQL's CPU per job beside it, approximate: the postgres server processes (postmaster,
  background processes, and the backends whose client is one of this run's genq processes)
  present at the window's start or end.

The load generator shares the machine with genq and PostgreSQL, so jobs/s is bounded by the
machine: compare topologies by CPU per job. ``other cores`` is the CPU that everything else
on the machine (not genq, PostgreSQL or the load generator) used during the window.

Load generator apart, to rerun on a bigger machine with the clients elsewhere:

- ``python bench/scale.py serve --apis 2 --workers 4 --host 0.0.0.0`` starts one topology,
  prints its API URLs and key, then every ``--seconds`` the jobs finished (counted in the job
  store) and genq's and PostgreSQL's CPU per job on that machine, until Ctrl-C;
- ``python bench/scale.py --api-url URL [--api-url URL ...] --key KEY`` runs only the load
  phases against running APIs: jobs/s and latency, no CPU figures (read them from ``serve``).

Every process the bench starts is stopped, and every schema it made dropped, when it ends
(also on errors and Ctrl-C). ``--strict`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import psutil
import psycopg
from embedded import percentile

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
TARGETS = {"genq_cpu_ms_per_job": 1.5, "p50_ms_one_client": 10.0}
RUN = secrets.token_hex(4)
NOOP = {"model": "noop", "input": {}}
#: How long a job may stay unfinished before the bench counts it as stuck.
JOB_DEADLINE_SECONDS = 30.0
READY_SECONDS = 60.0
STOP_SECONDS = 20.0
LOG_FINDING = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")
CLIENT_PORT = re.compile(r"\((\d+)\)")

ProcKey = tuple[int, float]


class DeploymentError(Exception):
    """A topology could not start, or one of its processes ended on its own."""


@dataclass(frozen=True)
class Topology:
    apis: int
    workers: int
    embedded: bool = False

    @property
    def store(self) -> str:
        return "SQLite embedded" if self.embedded else "PostgreSQL"

    @property
    def slug(self) -> str:
        return f"sqlite_w{self.workers}" if self.embedded else f"a{self.apis}w{self.workers}"

    def __str__(self) -> str:
        if self.embedded:
            return f"{self.store}, {self.workers} workers"
        return f"{self.store}, {self.apis} API(s), {self.workers} workers"


# -- processes -------------------------------------------------------------------------------
class GenqProcess:
    """One genq command, its output kept in a log file."""

    def __init__(
        self, role: str, name: str, args: list[str], log: Path, children_role: str = ""
    ) -> None:
        #: "api" or "workers": where its CPU is counted, and its children's.
        self.role = role
        self.children_role = children_role or role
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "genq", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.ps = psutil.Process(self.popen.pid)
        self.stopping = False

    def tree(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return [self.ps, *self.ps.children(recursive=True)]
        return []

    def check(self) -> None:
        if self.popen.poll() is not None and not self.stopping:
            raise DeploymentError(
                f"{self.name} exited with code {self.popen.returncode}:\n{self.tail()}"
            )

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"    | {line}" for line in text) or "    | (no output)"

    def findings(self) -> list[str]:
        """Warning and error lines in its log."""
        text = self.log.read_text(errors="replace").splitlines()
        return [line for line in text if LOG_FINDING.search(line)]


def stop_all(processes: Iterable[GenqProcess]) -> list[str]:
    """SIGTERM each process and wait for its tree; after ``STOP_SECONDS``, SIGKILL what is
    left of its process group. Says what did not stop cleanly."""
    processes = list(processes)
    running = [p for p in processes if p.popen.poll() is None]
    children: list[psutil.Process] = []
    for process in processes:
        process.stopping = True
    for process in running:
        children += process.tree()[1:]
        process.popen.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(max(deadline - time.monotonic(), 0))
    psutil.wait_procs(children, timeout=max(deadline - time.monotonic(), 0))
    notes = []
    for process in processes:
        for proc in process_group(process.popen.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                notes.append(
                    f"{process.name}: pid {proc.pid} ({' '.join(proc.cmdline())[:60]}) still"
                    f" running {STOP_SECONDS:g} s after SIGTERM: killed"
                )
                proc.kill()
    for process in running:
        code = process.popen.wait()
        if code not in (0, -signal.SIGTERM):
            notes.append(f"{process.name} exited with code {code} when stopped")
    return notes


def process_group(pgid: int) -> list[psutil.Process]:
    """The processes of a group. Each genq process leads its own (``start_new_session``), so
    this finds its children even when their parent died first."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def genq_command(*args: str) -> str:
    """Run a short genq command and return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "genq", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DeploymentError(f"genq {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# -- PostgreSQL ------------------------------------------------------------------------------
def admin_url(base: str) -> str:
    """The base URL without genq's ``schema`` parameter, for psycopg."""
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def schema_url(base: str, schema: str) -> str:
    parts = urlsplit(admin_url(base))
    query = [*parse_qsl(parts.query), ("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def drop_schema(base: str, schema: str) -> None:
    try:
        with psycopg.connect(admin_url(base), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error as exc:
        print(f"warning: could not drop schema {schema}: {exc}", file=sys.stderr)


# -- topologies ------------------------------------------------------------------------------
class Deployment:
    """A running topology: its API URLs, key and processes. Stops them and drops its schema
    on exit."""

    def __init__(
        self, topology: Topology, db: str, workdir: Path, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.topology = topology
        self.db = db
        self.workdir = workdir
        self.host = host
        self.first_port = port
        self.schema = f"bench_{RUN}_{topology.slug}"
        self.data_dir = workdir / "data"
        self.processes: list[GenqProcess] = []
        self.urls: list[str] = []
        self.key = ""
        self.stop_notes: list[str] = []
        self.schema_made = False

    def __enter__(self) -> Deployment:
        self.workdir.mkdir(parents=True)
        try:
            if self.topology.embedded:
                self._start_embedded()
            else:
                self._start_scaled_out()
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_notes = stop_all(self.processes)
        if self.schema_made:
            drop_schema(self.db, self.schema)

    def _port(self, index: int) -> int:
        return self.first_port + index if self.first_port else free_port()

    def _api(self, index: int, config: Path, *options: str) -> None:
        port = self._port(index)
        self.urls.append(f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{port}")
        args = ["serve", *options, "--host", self.host, "--port", str(port)]
        args += ["--data-dir", str(self.data_dir), "--config", str(config)]
        log = self.workdir / f"api-{index + 1}.log"
        name = f"API {index + 1} (port {port})"
        # Embedded, the API process's children are its workers.
        self.processes.append(GenqProcess("api", name, args, log, children_role="workers"))

    def _start_embedded(self) -> None:
        config = self.workdir / "genq.toml"
        config.write_text(f'workers = {self.topology.workers}\nsecret = "{RUN}"\n')
        self._api(0, config)

    def _start_scaled_out(self) -> None:
        url = schema_url(self.db, self.schema)
        self.schema_made = True
        genq_command("migrate", "--db", url)
        self.key = genq_command("keys", "create", "--account", "bench", "--db", url).split()[-1]
        config = self.workdir / "genq.toml"
        # One secret for all: processes sharing a data dir must not race to create it.
        config.write_text(f'db = "{url}"\nsecret = "{RUN}"\n')
        for index in range(self.topology.apis):
            self._api(index, config, "--no-workers")
        args = ["worker", "--concurrency", str(self.topology.workers)]
        args += ["--data-dir", str(self.data_dir), "--config", str(config)]
        log = self.workdir / "workers.log"
        self.processes.append(GenqProcess("workers", "genq worker", args, log))

    def check(self) -> None:
        for process in self.processes:
            process.check()

    def registered_workers(self) -> int:
        if self.topology.embedded:
            path = self.data_dir / "genq.db"
            if not path.exists():
                return 0
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                with contextlib.suppress(sqlite3.Error):
                    count: int = db.execute("SELECT count(*) FROM workers").fetchone()[0]
                    return count
                return 0
        with psycopg.connect(admin_url(self.db)) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{self.schema}".workers').fetchone()
            return int(row[0]) if row else 0

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        pending = set(self.urls)
        while time.monotonic() < deadline:
            self.check()
            for url in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        pending.discard(url)
            if not pending and self.registered_workers() == self.topology.workers:
                if self.topology.embedded:
                    self.key = (self.data_dir / "api-key").read_text().strip()
                return
            time.sleep(0.1)
        raise DeploymentError(f"{self.topology} not ready after {READY_SECONDS:g} s")

    def finished_jobs(self, since: float, until: float) -> int:
        """Jobs that ended in ``[since, until)`` (wall-clock seconds), read from the store."""
        with psycopg.connect(admin_url(self.db)) as conn:
            row = conn.execute(
                f'SELECT count(*) FROM "{self.schema}".jobs'
                " WHERE finished_at >= %s AND finished_at < %s",
                (since, until),
            ).fetchone()
            return int(row[0]) if row else 0

    def findings(self) -> list[str]:
        """What its processes logged as warnings or errors, and what did not stop cleanly."""
        found = list(self.stop_notes)
        for process in self.processes:
            lines = process.findings()
            if lines:
                found.append(f"{process.name} logged {len(lines)} warning/error line(s):")
                found += [f"    | {line}" for line in lines[:5]]
        return found


# -- CPU accounting --------------------------------------------------------------------------
def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


@dataclass(frozen=True)
class Snapshot:
    wall: float
    genq: dict[str, dict[ProcKey, float]]
    #: Every postgres process: its CPU seconds and, for a backend, its client's port.
    postgres: dict[ProcKey, tuple[float, int | None]]
    #: Local ports of genq's TCP connections, to tell its backends from other clients'.
    genq_ports: frozenset[int]
    load: float
    machine_busy: float


@dataclass(frozen=True)
class Usage:
    """CPU seconds over a window."""

    api: float
    workers: float
    postgres: float
    postgres_others: float
    postgres_seen: bool
    load: float
    other: float

    @property
    def genq(self) -> float:
        return self.api + self.workers


def postgres_processes() -> dict[ProcKey, tuple[float, int | None]]:
    found: dict[ProcKey, tuple[float, int | None]] = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            port = CLIENT_PORT.search(" ".join(proc.info["cmdline"] or []))
            key = (proc.pid, proc.create_time())
            found[key] = (cpu_seconds(proc), int(port[1]) if port else None)
    return found


def serving(snapshot: Snapshot, ports: frozenset[int], genq: bool) -> dict[ProcKey, float]:
    """CPU seconds of the postgres processes that serve genq (the server's own processes and
    the backends of genq's connections), or of those that serve other clients."""
    return {
        key: cpu
        for key, (cpu, port) in snapshot.postgres.items()
        if (port is None or port in ports) == genq
    }


def delta(before: Mapping[ProcKey, float], after: Mapping[ProcKey, float]) -> float:
    """CPU used between two snapshots by the processes alive at the second one (those that
    ended in between are lost)."""
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


class Meter:
    """CPU snapshots of a deployment's processes, the postgres server and this process."""

    def __init__(self, processes: list[GenqProcess]) -> None:
        self.processes = processes
        self.me = psutil.Process()

    def snapshot(self) -> Snapshot:
        genq: dict[str, dict[ProcKey, float]] = {"api": {}, "workers": {}}
        ports: set[int] = set()
        for process in self.processes:
            for proc in process.tree():
                role = process.role if proc.pid == process.ps.pid else process.children_role
                with contextlib.suppress(psutil.NoSuchProcess):
                    genq[role][(proc.pid, proc.create_time())] = cpu_seconds(proc)
                    ports.update(c.laddr.port for c in proc.net_connections("tcp") if c.raddr)
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return Snapshot(
            wall=time.time(),
            genq=genq,
            postgres=postgres_processes(),
            genq_ports=frozenset(ports),
            load=cpu_seconds(self.me),
            machine_busy=busy,
        )

    @staticmethod
    def usage(before: Snapshot, after: Snapshot) -> Usage:
        ports = before.genq_ports | after.genq_ports
        api = delta(before.genq["api"], after.genq["api"])
        workers = delta(before.genq["workers"], after.genq["workers"])
        pg = delta(serving(before, ports, True), serving(after, ports, True))
        pg_others = delta(serving(before, ports, False), serving(after, ports, False))
        load = after.load - before.load
        other = after.machine_busy - before.machine_busy - api - workers - pg - pg_others - load
        return Usage(api, workers, pg, pg_others, bool(after.postgres), load, max(other, 0.0))


# -- load ------------------------------------------------------------------------------------
@dataclass
class Phase:
    jobs: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    usage: Usage | None = None

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0

    def ms_per_job(self, cpu_seconds: float) -> float:
        return 1000 * cpu_seconds / max(self.jobs, 1)


@dataclass
class Result:
    topology: Topology | None
    throughput: Phase
    latency: Phase
    findings: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def p50_ms(self) -> float:
        return 1000 * percentile(self.latency.latencies, 0.5)

    @property
    def p99_ms(self) -> float:
        return 1000 * percentile(self.latency.latencies, 0.99)

    @property
    def genq_ms(self) -> float | None:
        usage = self.throughput.usage
        return None if usage is None else self.throughput.ms_per_job(usage.genq)

    def misses(self) -> list[str]:
        """The targets this PostgreSQL result misses."""
        missed = []
        genq_ms = self.genq_ms
        if genq_ms is not None and genq_ms > TARGETS["genq_cpu_ms_per_job"]:
            missed.append("CPU")
        if not self.latency.latencies or self.p50_ms > TARGETS["p50_ms_one_client"]:
            missed.append("p50")
        return missed


async def noop_job(submit: httpx.AsyncClient, wait: httpx.AsyncClient, prefer_wait: bool) -> str:
    """Run one no-op job to its end; what went wrong, or "" when it succeeded."""
    headers = {"Prefer": "wait=30"} if prefer_wait else {}
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    response = await submit.post("/v1/jobs", json=NOOP, headers=headers)
    while response.is_success:
        job: dict[str, Any] = response.json()
        if job["status"] == "succeeded":
            return ""
        if job["status"] not in ("queued", "running"):
            return f"job {job['id']} ended {job['status']}: {job.get('error')}"
        if time.monotonic() > deadline:
            return f"job {job['id']} still {job['status']} after {JOB_DEADLINE_SECONDS:g} s"
        response = await wait.get(f"/v1/jobs/{job['id']}", params={"wait": 30})
    return (
        f"{response.request.method} {response.url.path}: HTTP {response.status_code} "
        + (response.text[:200])
    )


async def run_phase(
    apis: list[httpx.AsyncClient],
    clients: int,
    warmup: float,
    seconds: float,
    *,
    prefer_wait: bool = False,
    cross: bool = False,
    meter: Meter | None = None,
    check: Callable[[], None] | None = None,
) -> Phase:
    """Run jobs back to back on ``clients`` clients; count those that end in the window after
    the warm-up. Client i uses API i (round-robin); with ``cross``, each job is submitted to
    the next API in turn and waited on at the one after it. ``check`` raises to stop early."""
    phase = Phase()
    start = time.monotonic()
    t0, t1 = start + warmup, start + warmup + seconds
    snapshots: list[Snapshot] = []

    async def watch() -> None:
        for at in (t0, t1):
            while (left := at - time.monotonic()) > 0:
                await asyncio.sleep(min(left, 0.5))
                if check is not None:
                    check()
            if meter is not None:
                snapshots.append(meter.snapshot())

    async def client(index: int) -> None:
        n = 0
        while time.monotonic() < t1:
            first = (index + n) % len(apis) if cross else index % len(apis)
            second = (first + 1) % len(apis) if cross else first
            began = time.perf_counter()
            try:
                error = await noop_job(apis[first], apis[second], prefer_wait)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            ended = time.monotonic()
            n += 1
            if error:
                phase.errors.append(error)
                await asyncio.sleep(0.1)
            elif t0 <= ended < t1:
                phase.jobs += 1
                phase.latencies.append(time.perf_counter() - began)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(watch())
            for index in range(clients):
                group.create_task(client(index))
    except* DeploymentError as failed:
        raise failed.exceptions[0] from None
    phase.seconds = seconds
    if len(snapshots) == 2:
        phase.usage = Meter.usage(*snapshots)
    return phase


async def drive(
    urls: list[str],
    key: str,
    args: argparse.Namespace,
    meter: Meter | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[Phase, Phase]:
    """The throughput phase (``--clients`` clients, CPU measured) and the latency phase (one
    client)."""
    async with contextlib.AsyncExitStack() as stack:
        apis = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url,
                    headers={"Authorization": f"Bearer {key}"},
                    limits=httpx.Limits(max_connections=args.clients),
                    timeout=60,
                )
            )
            for url in urls
        ]
        throughput = await run_phase(
            apis,
            args.clients,
            args.warmup,
            args.seconds,
            prefer_wait=args.prefer_wait,
            meter=meter,
            check=check,
        )
        latency = await run_phase(apis, 1, args.warmup, args.seconds, cross=True, check=check)
    return throughput, latency


# -- report ----------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table_row(result: Result) -> list[str]:
    topology = result.topology
    where = (
        [topology.store, "—" if topology.embedded else str(topology.apis), str(topology.workers)]
        if topology
        else ["external", "—", "—"]
    )
    if result.failure:
        return [*where, *["—"] * 10, "FAILED"]
    phase, usage = result.throughput, result.throughput.usage

    def per_job(seconds: float | None) -> str:
        return fmt(None if seconds is None else phase.ms_per_job(seconds))

    pg = usage.postgres if usage and usage.postgres_seen else None
    if topology and topology.embedded:
        verdict, pg = "baseline", None
    else:
        missed = result.misses()
        verdict = f"{' + '.join(missed)} missed" if missed else "met"
    return [
        *where,
        f"{phase.rate:.0f}",
        per_job(usage.genq if usage else None),
        per_job(usage.api if usage else None),
        per_job(usage.workers if usage else None),
        per_job(pg),
        per_job(usage.load if usage else None),
        fmt(usage.other / phase.seconds if usage else None),
        fmt(result.p50_ms if result.latency.latencies else None),
        fmt(result.p99_ms if result.latency.latencies else None),
        str(len(result.throughput.errors) + len(result.latency.errors)),
        verdict,
    ]


HEADER = [
    [
        *("store", "APIs", "workers", "jobs/s", "genq", "API", "workers", "PG", "client"),
        *("other", "p50", "p99", "errors", "targets"),
    ],
    ["", "", "", "", *["ms/job"] * 5, "cores", "ms", "ms", "", ""],
]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)]
        cells.append(row[-1])
        print("  ".join(cells).rstrip())
        if index == len(HEADER) - 1:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def print_targets(results: list[Result]) -> None:
    scaled = [r for r in results if r.topology and not r.topology.embedded and not r.failure]
    if not scaled:
        return
    print("\nTargets, PostgreSQL mode:")
    figures = [
        ("genq CPU per no-op job", "genq_cpu_ms_per_job", [r.genq_ms for r in scaled]),
        (
            "p50 latency, one client",
            "p50_ms_one_client",
            [r.p50_ms if r.latency.latencies else None for r in scaled],
        ),
    ]
    for label, name, values in figures:
        known = [v for v in values if v is not None]
        if not known:
            print(f"  {label:24} ≤ {TARGETS[name]:g} ms: not measured")
            continue
        met = sum(v <= TARGETS[name] for v in known)
        verdict = "met" if met == len(known) else "MISSED"
        print(
            f"  {label:24} ≤ {TARGETS[name]:4g} ms  {verdict:6}  in {met} of {len(known)}"
            f" topologies, {min(known):.2f}-{max(known):.2f} ms"
        )


def print_notes(results: list[Result], args: argparse.Namespace, notes: list[str]) -> None:
    submit = "one request (Prefer: wait)" if args.prefer_wait else "submit, then GET ?wait=30"
    notes = [
        f"Throughput: {args.clients} clients, each job {submit}. Latency: one client, submit"
        " then GET ?wait=30; with several APIs it waits on another API than it submitted to.",
        *notes,
    ]
    print()
    for note in notes:
        print(textwrap.fill(note, width=100, subsequent_indent="  "))
    for result in results:
        lines = result.findings + result.throughput.errors[:3] + result.latency.errors[:3]
        if result.failure:
            lines.insert(0, result.failure)
        if lines:
            print(f"\n{result.topology or 'external'}:")
            for line in lines:
                print(f"  {line}")


def cpu_notes(results: list[Result], db: str) -> list[str]:
    """What the CPU columns mean, and what may have disturbed them."""
    notes = [
        f"This machine's {psutil.cpu_count()} cores are shared by genq, PostgreSQL and the"
        " load generator (`client`, this process): jobs/s is bounded by the machine, so judge"
        " by CPU per job. genq = API + workers (every genq process and its children).",
        "PG is approximate: CPU of the postgres server processes (postmaster, background"
        " processes, and backends of this run's genq processes) present at the window's start"
        " or end.",
        "`other cores`: CPU used by everything else on this machine during the window; when it"
        " is high, another program's load disturbed the figures.",
    ]
    foreign = sum(r.throughput.usage.postgres_others for r in results if r.throughput.usage)
    if foreign > 0.01:
        notes.append(
            f"Backends of other PostgreSQL clients used {foreign:.2f} CPU s during the windows,"
            " left out of PG."
        )
    with contextlib.suppress(psycopg.Error), psycopg.connect(admin_url(db)) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
        if row and row[0] == "off":
            notes.append(
                "autovacuum is off on this PostgreSQL server: the fresh schemas are never"
                " vacuumed or analyzed during the run, so plans made on empty tables stay and"
                " dead rows pile up."
            )
    return notes


def exit_code(results: list[Result], strict: bool) -> int:
    """1 when a topology failed or a job went wrong; with ``strict``, also when a target is
    missed."""
    broken = any(r.failure or r.throughput.errors or r.latency.errors for r in results)
    missed = any(r.misses() for r in results if not (r.topology and r.topology.embedded))
    return 1 if broken or (strict and missed) else 0


# -- commands --------------------------------------------------------------------------------
def measure_topology(topology: Topology, args: argparse.Namespace, workdir: Path) -> Result:
    deployment = Deployment(topology, args.db, workdir)
    try:
        with deployment:
            meter = Meter(deployment.processes)
            throughput, latency = asyncio.run(
                drive(deployment.urls, deployment.key, args, meter, deployment.check)
            )
            deployment.check()
    except DeploymentError as exc:
        return Result(topology, Phase(), Phase(), deployment.findings(), failure=str(exc))
    return Result(topology, throughput, latency, deployment.findings())


def bench(args: argparse.Namespace) -> int:
    topologies = (
        [Topology(1, args.baseline_workers, embedded=True)] if args.baseline_workers else []
    )
    topologies += [Topology(a, w) for a in args.apis for w in args.workers]
    print(
        f"genq scale-out bench: {len(topologies)} topologies, {args.clients} clients,"
        f" {args.warmup:g} s warm-up + {args.seconds:g} s windows, {psutil.cpu_count()} cores"
        " shared with the load generator\n"
    )
    results = []
    with contextlib.ExitStack() as stack:
        if args.log_dir:
            root = Path(args.log_dir)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="genq-scale-")))
        for index, topology in enumerate(topologies):
            result = measure_topology(topology, args, root / f"{index}-{topology.slug}")
            results.append(result)
            if result.failure:
                print(f"{topology}: FAILED: {result.failure.splitlines()[0]}", flush=True)
            else:
                print(
                    f"{topology}: {result.throughput.rate:.0f} jobs/s,"
                    f" genq {fmt(result.genq_ms)} ms CPU/job, p50 {result.p50_ms:.2f} ms",
                    flush=True,
                )
    print()
    print_table([*HEADER, *(table_row(r) for r in results)])
    print_targets(results)
    print_notes(results, args, cpu_notes(results, args.db))
    return exit_code(results, args.strict)


def bench_apart(args: argparse.Namespace) -> int:
    if not args.key:
        sys.exit("--api-url needs --key")
    print(f"genq scale-out bench against {', '.join(args.api_url)}\n")
    throughput, latency = asyncio.run(drive(args.api_url, args.key, args))
    result = Result(None, throughput, latency)
    print_table([*HEADER, table_row(result)])
    print_notes([result], args, ["CPU per job is measured by `bench/scale.py serve`."])
    return exit_code([result], args.strict)


def serve(args: argparse.Namespace) -> int:
    if len(args.apis) != 1 or len(args.workers) != 1:
        sys.exit("serve starts one topology: give one --apis and one --workers value")
    topology = Topology(args.apis[0], args.workers[0])
    with contextlib.ExitStack() as stack:
        if args.log_dir:
            workdir = Path(args.log_dir) / "serve"
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="genq-scale-"))
            workdir = Path(tmp) / "serve"
        deployment = Deployment(topology, args.db, workdir, host=args.host, port=args.port)
        try:
            stack.enter_context(deployment)
            report_while_serving(deployment, args)
        except DeploymentError as exc:
            print(f"{topology}: FAILED: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            pass
    return 0


def report_while_serving(deployment: Deployment, args: argparse.Namespace) -> None:
    """Print the deployment's URLs and key, then every ``--seconds`` the jobs that ended and
    the CPU they took, until interrupted."""
    urls = deployment.urls
    if args.host == "0.0.0.0":
        urls = [url.replace("127.0.0.1", socket.gethostname()) for url in urls]
    print(f"{deployment.topology}: schema {deployment.schema}, logs in {deployment.workdir}")
    print("API URLs:", " ".join(urls))
    print(f"key: {deployment.key}")
    options = " ".join(f"--api-url {url}" for url in urls)
    print(f"load it: python bench/scale.py {options} --key {deployment.key}")
    print("Ctrl-C to stop.\n", flush=True)
    meter = Meter(deployment.processes)
    before = meter.snapshot()
    while True:
        time.sleep(args.seconds)
        deployment.check()
        after = meter.snapshot()
        jobs = deployment.finished_jobs(before.wall, after.wall)
        if jobs:
            usage = Meter.usage(before, after)
            pg = f"{1000 * usage.postgres / jobs:.2f}" if usage.postgres_seen else "—"
            print(
                f"{jobs / (after.wall - before.wall):7.0f} jobs/s   genq"
                f" {1000 * usage.genq / jobs:.2f} ms CPU/job (API {1000 * usage.api / jobs:.2f}"
                f" + workers {1000 * usage.workers / jobs:.2f})   PG {pg} ms/job",
                flush=True,
            )
        before = after


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["bench", "serve"], default="bench")
    parser.add_argument("--apis", type=int_list, default=[1, 2], help="default 1,2")
    parser.add_argument("--workers", type=int_list, default=[1, 2, 4], help="default 1,2,4")
    parser.add_argument(
        "--baseline-workers", type=int, default=2, help="SQLite embedded baseline (0: none)"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument(
        "--prefer-wait", action="store_true", help="throughput phase: one request per job"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"PostgreSQL base URL ({DEFAULT_DB})")
    parser.add_argument("--log-dir", help="keep data dirs and process logs here")
    parser.add_argument(
        "--api-url", action="append", help="load running APIs only (repeatable; needs --key)"
    )
    parser.add_argument("--key", help="API key for --api-url")
    parser.add_argument("--host", default="127.0.0.1", help="serve: address to listen on")
    parser.add_argument("--port", type=int, default=0, help="serve: first API port")
    args = parser.parse_args()
    # SIGTERM stops the bench like Ctrl-C (also when started in the background, where SIGINT
    # may be ignored), so that its processes and schemas are cleaned up.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    if args.command == "serve":
        return serve(args)
    if args.api_url:
        return bench_apart(args)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
