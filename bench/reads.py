"""Benchmark of status reads, the requests polling clients make most: ``python bench/reads.py``.

For each route a client polls, read over and over on one job that has finished, it measures
reads/s and the server's CPU per read: a load generator (``wrk -t1 -c8``, or a Python asyncio
one when wrk is not installed) runs a 1 s warm-up, then a ``--seconds`` window; CPU per read
is the server process's user + system CPU seconds over the window divided by the reads it
answered. Every server is a real uvicorn process with the settings ``genq serve`` uses
(uvloop, httptools, log level warning, no access log):

- the floors of the stack: a bare ASGI app, a Starlette app and a FastAPI app, each answering
  ``GET /v1/jobs/{id}`` with a constant body the size of genq's job body;
- genq now: ``genq serve`` with ``workers = 1``, from this tree;
- genq baseline: the same from a git worktree of ``--baseline`` (default f1f9046), measured
  alternately with genq now, route by route, since this machine's speed drifts.

genq runs on SQLite and, when it answers (or with ``--postgres``), on PostgreSQL, each server
on a fresh schema that is dropped after; PostgreSQL's own CPU is not in the figures. Each job
is a ``noop`` job submitted through the route's own surface (Oxen's status list takes only
image and video models: ``demo-image``). The default run (both engines, every route, one
round) takes about 4 minutes on 2 cores; ``--rounds 2`` measures each route twice on each
server, in the order baseline, now, now, baseline, and shows the means.

How to read it: the load generator shares the cores with the server, so reads/s depends on
the machine; CPU per read is the figure to compare, and now/floor is how many times the bare
floor's CPU genq spends on a read. The targets (at most 0.1 ms CPU per read and at least
6,000 reads/s from one API process) were set on a machine whose bare floor was 0.036 ms CPU
and 20,000 reads/s: each figure of genq now is also shown scaled to that machine by the
bare floor measured here, and judged both raw and scaled. ``--strict`` exits 1 when genq now
misses a target scaled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg
import uvicorn
from baseline import BenchError, baseline_tree
from fastapi import FastAPI
from scale import DEFAULT_DB, admin_url, drop_schema, free_port, schema_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from genq.jobs import Status
from genq.server import DEFAULT_ACCOUNT

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "f1f9046"
TARGET_CPU_MS = 0.1
TARGET_RATE = 6000.0
#: The bare-ASGI floor of the machine the targets were set on.
REFERENCE_CPU_MS = 0.036
REFERENCE_RATE = 20000.0
FLOORS = {"bare": "bare ASGI", "starlette": "Starlette", "fastapi": "FastAPI"}
RUN = secrets.token_hex(4)
READY_SECONDS = 60.0


# -- routes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """A status read, on a job submitted through the same surface."""

    name: str
    #: The path read, with ``{id}`` (the job) and ``{account}`` (the key's account).
    read: str
    submit: str
    body: dict[str, Any]
    id_of: Callable[[dict[str, Any]], str]
    #: Segmind's documents send the key as ``x-api-key``, the others' as a bearer token.
    x_api_key: bool = False

    def headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key} if self.x_api_key else {"Authorization": f"Bearer {key}"}


ROUTES = (
    Route("native", "/v1/jobs/{id}", "/v1/jobs", {"model": "noop", "input": {}}, lambda b: b["id"]),
    Route(
        "segmind-status",
        "/v2/requests/{id}/status",
        "/v2/noop",
        {},
        lambda b: b["request_id"],
        x_api_key=True,
    ),
    Route(
        "segmind-result",
        "/v2/requests/{id}",
        "/v2/noop",
        {},
        lambda b: b["request_id"],
        x_api_key=True,
    ),
    Route(
        "netmind",
        "/v1/generation/{id}",
        "/v1/generation",
        {"model": "noop", "config": {}},
        lambda b: b["id"],
    ),
    Route(
        "netmind-legacy",
        "/v1/netmind-image-job/{id}",
        "/v1/netmind-image-job",
        {"job_type": "text2image", "config": {"prompt": "a lighthouse"}},
        lambda b: b["job_id"],
    ),
    Route(
        "mindvideo",
        "/api/v1/tasks/{id}",
        "/api/v1/tasks",
        {"model": "noop", "input": {}},
        lambda b: b["task_id"],
    ),
    Route(
        "oxen-status",
        "/api/media/generations/status/{account}/demo-image",
        "/api/ai/queue",
        {"model": "demo-image", "prompt": "a lighthouse"},
        lambda b: b["generations"][0]["generation_id"],
    ),
)
NATIVE = ROUTES[0]

#: genq's settings: one worker, and the NetMind legacy image job type runs ``noop`` as the
#: other surfaces' jobs do (by default it is ``demo-image``).
CONFIG = '{db}workers = 1\n\n[aliases.text2image]\nmodel = "noop"\n'


# -- processes ---------------------------------------------------------------------------------
class Server:
    """One server process, its output kept in a log file."""

    def __init__(
        self, name: str, argv: list[str], log: Path, cwd: Path = ROOT, pythonpath: Path = ROOT
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [*argv, "--port", str(self.port)],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.ps = psutil.Process(self.popen.pid)

    def wait_ready(self, probe: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with code {self.popen.returncode}{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + probe, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {READY_SECONDS:g} s{self.tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process itself (a genq worker is not counted)."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "".join(f"\n    | {line}" for line in text)

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@contextlib.contextmanager
def running(server: Server, probe: str) -> Iterator[Server]:
    try:
        server.wait_ready(probe)
        yield server
    finally:
        server.stop()


# -- the floors ----------------------------------------------------------------------------------
def bare_app(body: bytes) -> Any:
    """Any request answered with the body: the least an ASGI app can do."""
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":  # no lifespan: uvicorn goes on without it
            await send(start)
            await send({"type": "http.response.body", "body": body})

    return app


def starlette_app(body: bytes) -> Any:
    async def get_job(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[StarletteRoute("/v1/jobs/{id}", get_job)])


def fastapi_app(body: bytes) -> Any:
    app = FastAPI()

    @app.get("/v1/jobs/{id}")
    async def get_job(id: str) -> Response:
        return Response(body, media_type="application/json")

    return app


def serve_floor(args: argparse.Namespace) -> int:
    """The ``floor`` command: serve one floor app as ``genq serve`` serves genq."""
    body = Path(args.body).read_bytes()
    app = {"bare": bare_app, "starlette": starlette_app, "fastapi": fastapi_app}[args.kind](body)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


def start_floor(kind: str, body: Path, workdir: Path) -> Server:
    argv = [sys.executable, str(Path(__file__).resolve()), "floor", kind, "--body", str(body)]
    return Server(FLOORS[kind], argv, workdir / f"floor-{kind}.log")


# -- load generators -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """One measured window: reads answered, its length and the server's CPU over it."""

    reads: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.reads / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / max(self.reads, 1)


WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


class Wrk:
    """``wrk``: reads counted by wrk; any non-2xx answer or socket error is an error."""

    def __init__(self, connections: int, threads: int) -> None:
        self.connections = connections
        self.threads = threads
        self.name = f"wrk -t{threads} -c{connections}"

    def run(self, url: str, headers: dict[str, str], seconds: int) -> tuple[int, float]:
        argv = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s"]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        done = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
        out = done.stdout + done.stderr
        found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
        if done.returncode != 0 or not found:
            raise BenchError(f"wrk failed on {url}:\n{out}")
        for problem in ("Non-2xx or 3xx responses", "Socket errors"):
            if problem in out:
                raise BenchError(f"wrk on {url}: {problem}:\n{out}")
        return int(found[1]), float(found[2]) * WRK_UNITS[found[3]]


class PythonLoad:
    """Keep-alive connections on raw asyncio sockets, each sending one request after another."""

    CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)

    def __init__(self, connections: int, why: str) -> None:
        self.connections = connections
        self.name = f"Python asyncio, {connections} keep-alive connections ({why})"

    def run(self, url: str, headers: dict[str, str], seconds: int) -> tuple[int, float]:
        return asyncio.run(self._run(url, headers, seconds))

    async def _run(self, url: str, headers: dict[str, str], seconds: int) -> tuple[int, float]:
        parts = urlsplit(url)
        lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        started = time.monotonic()
        stop_at = started + seconds
        counts = await asyncio.gather(
            *(
                self._connection(parts.hostname or "", parts.port or 80, request, stop_at)
                for _ in range(self.connections)
            )
        )
        return sum(counts), time.monotonic() - started

    async def _connection(self, host: str, port: int, request: bytes, stop_at: float) -> int:
        reader, writer = await asyncio.open_connection(host, port)
        reads = 0
        try:
            while time.monotonic() < stop_at:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = self.CONTENT_LENGTH.search(head)
                if not head.startswith(b"HTTP/1.1 2") or not length:
                    raise BenchError(f"unexpected answer: {head.decode(errors='replace')}")
                await reader.readexactly(int(length[1]))
                reads += 1
        finally:
            writer.close()
        return reads


LoadGenerator = Wrk | PythonLoad


def measure(
    load: LoadGenerator,
    server: Server,
    path: str,
    headers: dict[str, str],
    args: argparse.Namespace,
) -> Window:
    load.run(server.url + path, headers, args.warmup)
    before = server.cpu_seconds()
    reads, seconds = load.run(server.url + path, headers, args.seconds)
    return Window(reads, seconds, server.cpu_seconds() - before)


# -- genq ----------------------------------------------------------------------------------------
@dataclass
class Genq:
    """A running ``genq serve``, and what each route reads on it."""

    label: str
    server: Server
    key: str
    #: Per route: the path to read and the headers to send.
    reads: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    windows: dict[str, list[Window]] = field(default_factory=dict)


def start_genq(label: str, source: Path, workdir: Path, db_url: str | None) -> Server:
    workdir.mkdir(parents=True)
    config = workdir / "genq.toml"
    config.write_text(CONFIG.format(db=f'db = "{db_url}"\n' if db_url else ""))
    argv = [sys.executable, "-m", "genq", "serve", "--data-dir", str(workdir / "data")]
    argv += ["--config", str(config)]
    return Server(f"genq {label}", argv, workdir / "genq.log", cwd=source, pythonpath=source)


def prepare(genq: Genq, routes: list[Route]) -> None:
    """Submit one job per route through its surface, wait until it ended, and check that the
    route answers 200 with a JSON body."""
    with httpx.Client(base_url=genq.server.url, timeout=60) as http:
        for route in routes:
            headers = route.headers(genq.key)
            submitted = http.post(route.submit, json=route.body, headers=headers)
            if not submitted.is_success:
                raise BenchError(
                    f"genq {genq.label}: POST {route.submit} answered"
                    f" {submitted.status_code}: {submitted.text}"
                )
            job_id = route.id_of(submitted.json())
            wait_until_ended(http, genq, job_id)
            path = route.read.format(id=job_id, account=DEFAULT_ACCOUNT)
            read = http.get(path, headers=headers)
            if read.status_code != 200 or not is_json(read):
                raise BenchError(
                    f"genq {genq.label}: GET {path} answered {read.status_code}: {read.text[:300]}"
                )
            genq.reads[route.name] = (path, headers)


def is_json(response: httpx.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def wait_until_ended(http: httpx.Client, genq: Genq, job_id: str) -> None:
    headers = NATIVE.headers(genq.key)
    job: dict[str, Any] = {"status": "queued"}
    deadline = time.monotonic() + 60
    while not Status(job["status"]).terminal and time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}", params={"wait": 30}, headers=headers).json()
    if job["status"] != "succeeded":
        raise BenchError(f"genq {genq.label}: job {job_id} did not succeed: {job}")


@contextlib.contextmanager
def genq_servers(
    sources: list[tuple[str, Path]],
    routes: list[Route],
    workdir: Path,
    db: str | None,
) -> Iterator[list[Genq]]:
    """``genq serve`` from each source, ready, with a finished job per route; on PostgreSQL
    each on a fresh schema, dropped when they stop."""
    with contextlib.ExitStack() as stack:
        servers = []
        for label, source in sources:
            schema = f"bench_reads_{RUN}_{label}"
            if db:
                stack.callback(drop_schema, db, schema)
            server = start_genq(
                label, source, workdir / label, schema_url(db, schema) if db else None
            )
            stack.callback(server.stop)
            servers.append(server)
        started = []
        for server, (label, _) in zip(servers, sources, strict=True):
            server.wait_ready("/healthz")
            key = (workdir / label / "data" / "api-key").read_text().strip()
            started.append(Genq(label, server, key))
            prepare(started[-1], routes)
        yield started


# -- the engines ---------------------------------------------------------------------------------
@dataclass
class Floors:
    body_bytes: int = 0
    windows: dict[str, Window] = field(default_factory=dict)

    @property
    def bare(self) -> Window:
        return self.windows["bare"]


def measure_floors(
    floors: Floors, now: Genq, load: LoadGenerator, args: argparse.Namespace, workdir: Path
) -> None:
    """Each floor answering the job body genq now answers for ``GET /v1/jobs/{id}``."""
    path, headers = now.reads[NATIVE.name]
    body = workdir / "job.json"
    body.write_bytes(httpx.get(now.server.url + path, headers=headers).content)
    floors.body_bytes = body.stat().st_size
    for kind in FLOORS:
        with running(start_floor(kind, body, workdir), "/v1/jobs/x") as server:
            floors.windows[kind] = measure(load, server, path, headers, args)
    print_floors(floors)


def measure_engine(
    engine: str,
    db: str | None,
    sources: list[tuple[str, Path]],
    floors: Floors,
    load: LoadGenerator,
    args: argparse.Namespace,
    workdir: Path,
) -> list[Genq]:
    """Every route on genq baseline and now, alternately; the floors first if not yet done."""
    routes = [route for route in ROUTES if route.name in args.routes]
    # The floors answer the native job body, so that route is always set up.
    ready = [NATIVE, *(route for route in routes if route is not NATIVE)]
    with genq_servers(sources, ready, workdir / engine, db) as servers:
        now = servers[-1]
        if not floors.windows:
            measure_floors(floors, now, load, args, workdir)
        print_table_head(engine, servers, args)
        for route in routes:
            for round_ in range(args.rounds):
                # Every other round the other way round, so that a steady drift evens out.
                for genq in servers if round_ % 2 == 0 else servers[::-1]:
                    path, headers = genq.reads[route.name]
                    window = measure(load, genq.server, path, headers, args)
                    genq.windows.setdefault(route.name, []).append(window)
            print_row(route, floors, servers)
    return servers


# -- report --------------------------------------------------------------------------------------
def mean_rate(windows: list[Window]) -> float:
    return statistics.fmean(w.rate for w in windows)


def mean_cpu_ms(windows: list[Window]) -> float:
    return statistics.fmean(w.cpu_ms for w in windows)


def print_floors(floors: Floors) -> None:
    print(
        f"\nFloors: GET /v1/jobs/{{id}} answering a constant {floors.body_bytes}-byte JSON body"
        " (genq now's job body), uvicorn with uvloop + httptools"
    )
    for kind, label in FLOORS.items():
        window = floors.windows[kind]
        print(f"  {label:10} {window.rate:8.0f} reads/s  {window.cpu_ms:6.3f} ms CPU/read")


COLUMNS = "{:16} {:>8} {:>7}   {:>8} {:>7}   {:>8} {:>7}   {:>9}"


def print_table_head(engine: str, servers: list[Genq], args: argparse.Namespace) -> None:
    baseline = f"baseline {args.baseline_commit}" if len(servers) > 1 else "no baseline"
    print(f"\n{engine}: reads/s and server CPU per read (ms), mean of {args.rounds} round(s)")
    print(COLUMNS.format("", "floor", "", baseline, "", "now", "", "now/floor"))
    print(
        COLUMNS.format(
            "route", "reads/s", "ms CPU", "reads/s", "ms CPU", "reads/s", "ms CPU", "CPU"
        )
    )
    print("-" * 88, flush=True)


def print_row(route: Route, floors: Floors, servers: list[Genq]) -> None:
    cells = [route.name, f"{floors.bare.rate:.0f}", f"{floors.bare.cpu_ms:.3f}"]
    if len(servers) == 1:
        cells += ["—", "—"]
    for genq in servers:
        windows = genq.windows[route.name]
        cells += [f"{mean_rate(windows):.0f}", f"{mean_cpu_ms(windows):.3f}"]
    now = mean_cpu_ms(servers[-1].windows[route.name])
    cells.append(f"x{now / floors.bare.cpu_ms:.1f}")
    print(COLUMNS.format(*cells), flush=True)


def verdict(cpu_ms: float, rate: float) -> str:
    missed = [
        name
        for name, ok in (("CPU", cpu_ms <= TARGET_CPU_MS), ("reads/s", rate >= TARGET_RATE))
        if not ok
    ]
    return f"MISSED ({', '.join(missed)})" if missed else "met"


def print_targets(results: dict[str, list[Genq]], floors: Floors) -> bool:
    """genq now against the targets, raw and scaled to the reference machine; True when a
    scaled figure misses."""
    factor = floors.bare.cpu_ms / REFERENCE_CPU_MS
    print(
        f"\nTargets for one API process: ≤ {TARGET_CPU_MS:g} ms CPU per read and"
        f" ≥ {TARGET_RATE:,.0f} reads/s, set on a machine whose bare-ASGI floor on uvicorn was"
        f" {REFERENCE_CPU_MS} ms CPU/read and {REFERENCE_RATE:,.0f} reads/s.\n"
        f"Here the bare floor is {floors.bare.cpu_ms:.3f} ms CPU/read and"
        f" {floors.bare.rate:,.0f} reads/s: scale factor {factor:.2f}"
        f" (scaled CPU = CPU / {factor:.2f}, scaled reads/s = reads/s x {factor:.2f})."
    )
    row = "{:11} {:16} {:>7} {:>7}   {:>7} {:>7}   {:22} {}"
    print()
    print(row.format("genq now", "", "ms CPU", "scaled", "reads/s", "scaled", "raw", "scaled"))
    print("-" * 100)
    missed = False
    for engine, servers in results.items():
        now = servers[-1]
        for name, windows in now.windows.items():
            cpu, rate = mean_cpu_ms(windows), mean_rate(windows)
            scaled = verdict(cpu / factor, rate * factor)
            missed |= scaled != "met"
            print(
                row.format(
                    engine,
                    name,
                    f"{cpu:.3f}",
                    f"{cpu / factor:.3f}",
                    f"{rate:.0f}",
                    f"{rate * factor:.0f}",
                    verdict(cpu, rate),
                    scaled,
                )
            )
    return missed


# -- commands ------------------------------------------------------------------------------------
def engines(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """SQLite and PostgreSQL as asked; neither asked: SQLite, and PostgreSQL if it answers."""
    if args.sqlite or args.postgres:
        return [("SQLite", None)] * args.sqlite + [("PostgreSQL", args.db)] * args.postgres
    try:
        psycopg.connect(admin_url(args.db), connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL at {args.db} does not answer ({exc}): SQLite only\n")
        return [("SQLite", None)]
    return [("SQLite", None), ("PostgreSQL", args.db)]


def bench(args: argparse.Namespace) -> int:
    load: LoadGenerator
    if args.python_load:
        load = PythonLoad(args.connections, "--python-load")
    elif shutil.which("wrk"):
        load = Wrk(args.connections, args.threads)
    else:
        load = PythonLoad(args.connections, "wrk is not on PATH")
    print(
        f"genq status reads: load generator {load.name}, {args.warmup} s warm-up +"
        f" {args.seconds} s windows, {psutil.cpu_count()} CPUs shared with it"
    )
    for route in ROUTES:
        if route.name in args.routes:
            print(f"  {route.name:16} GET {route.read}")
    floors = Floors()
    results = {}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="genq-reads-")))
        sources = [("now", ROOT)]
        args.baseline_commit = None
        if args.baseline:
            args.baseline_commit, tree = stack.enter_context(baseline_tree(args.baseline))
            sources.insert(0, ("baseline", tree))
        for engine, db in engines(args):
            results[engine] = measure_engine(engine, db, sources, floors, load, args, workdir)
    missed = print_targets(results, floors)
    return 1 if missed and args.strict else 0


def route_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(names) - {route.name for route in ROUTES}
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown route(s): {', '.join(sorted(unknown))}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="measured window (whole seconds)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up before each window")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--rounds", type=int, default=1, help="windows per route and server, averaged"
    )
    parser.add_argument(
        "--routes",
        type=route_names,
        default=[route.name for route in ROUTES],
        help=f"comma-separated, of {', '.join(route.name for route in ROUTES)}",
    )
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision (default {BASELINE})")
    parser.add_argument("--no-baseline", dest="baseline", action="store_const", const="")
    parser.add_argument("--sqlite", action="store_true", help="measure on SQLite")
    parser.add_argument("--postgres", action="store_true", help="measure on PostgreSQL")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"PostgreSQL URL ({DEFAULT_DB})")
    parser.add_argument("--python-load", action="store_true", help="do not use wrk")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    commands = parser.add_subparsers(dest="command")
    floor = commands.add_parser("floor", help="serve one floor app (the bench starts these)")
    floor.add_argument("kind", choices=FLOORS)
    floor.add_argument("--body", required=True, help="file holding the body to answer")
    floor.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "floor":
        return serve_floor(args)
    # SIGTERM stops the bench like Ctrl-C, so that its servers, schemas and worktree go too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return bench(args)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
