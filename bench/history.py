"""Benchmark of the job store with a long history: ``python bench/history.py``.

The target: with 1,000,000 stored jobs over 100 accounts, submit, get, list and claim cost at
most 1.5 times what they cost with 1,000 jobs, each statement on an index.

For each engine (SQLite in a temporary file; PostgreSQL on a fresh schema, dropped at the
end, with ``--postgres`` or when it answers) it opens two stores with ``open_store`` and fills
one with 1,000 jobs and the other with ``--jobs`` jobs. The rows go straight into the jobs
table (executemany, COPY), as history: spread over the last week; account k has 1/k of the
first account's jobs; eight models of unequal popularity; the newest ``--active`` share
(1 %) unfinished, a tenth of them running and the rest queued, the others succeeded (93 %),
failed (5 %) or canceled (2 %); a tenth with an idempotency key, a tenth from a vendor
dialect. Half the accounts have a credit balance (a submit then sums what their unfinished
jobs hold), half have none. No event rows: no measured statement reads them.

Then, in ``--rounds`` rounds that alternate between the two stores, it calls each operation
``--calls`` times through the ``JobStore`` API and times every call:

- submit: a new job for an account with a balance, and for one without;
- get_job: a random job;
- list_jobs, 20 a page, for the account of a random job: its newest page; the page before
  a random job of it (the keyset cursor); the newest failed jobs; its queued or running jobs;
- claim: a worker serving the two most popular models takes the next job; then finish: it
  succeeds with one output;
- queue_position: of a random queued job.

Untimed, between the calls, the store is put back: the jobs submitted are deleted, and each
claimed job is deleted once finished and replaced by a new queued job, so the history and
the queue keep their size from round to round.

How to read it: on SQLite the cost is CPU per call (``time.process_time``: genq and SQLite
both run in this process). On PostgreSQL the server does much of the work: beside the wall
time per call, this process's CPU and the server backend's CPU (from ``/proc/PID/schedstat``,
when the server runs on this machine); the cost judged is the CPU of both sides (the wall time
when the server's is unknown), since on a shared machine wall time measures the others' load
too. The bench's sessions commit without waiting for the disk flush (``synchronous_commit``
off): the flush costs the same with any history. Each figure is the median over a round's
calls (the backend's: the mean), and the table keeps the lowest of the rounds, the least
disturbed. ratio = cost with the large history / cost with 1,000 jobs; ok when at most 1.5.

After the table, for each statement behind those operations, its plan with the large
history: ``EXPLAIN QUERY PLAN`` on SQLite; on PostgreSQL the plan ``auto_explain`` logs
(with ANALYZE: rows read and thrown away) when the statement runs prepared as the store runs
it, on its sixth run (by then PostgreSQL may have switched to a generic plan), in a
transaction rolled back. Each plan is followed by the indexes it uses and a flag on a full
scan, a sort, or many rows read to be thrown away; the indexes are listed first.

``--try-index SQL`` (repeatable) runs a statement on both stores after filling, to measure
an index that genq's schema does not have: an experiment, labelled as such in the output.
genq never runs ANALYZE on its SQLite file, so the bench does not either (``--analyze`` to
run it); PostgreSQL's autovacuum analyzes, so there the bench runs VACUUM ANALYZE after
filling. ``--strict`` exits 1 when an operation misses the target.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import os
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import psycopg
from scale import DEFAULT_DB, admin_url, drop_schema, schema_url

from genq.jobs import Account, JobRecord, OutputRecord
from genq.store import JobFilter, NewJob, open_store
from genq.store import postgres as pg_engine
from genq.store import queries as q
from genq.store import sqlite as sqlite_engine
from genq.store.changes import Change, Sql
from genq.store.core import SQLStore
from genq.store.engine import Engine
from genq.store.rows import job_columns

SMALL = 1_000
ACCOUNTS = 100
TARGET_RATIO = 1.5
PAGE = 20
DAY = 86400.0
HISTORY_SECONDS = 7 * DAY
RETENTION_SECONDS = 30 * DAY
#: Models and how many of the jobs each gets.
MODELS = {
    "flux-schnell": 40,
    "sdxl": 25,
    "whisper": 15,
    "llama-8b": 10,
    "wan-video": 5,
    "kokoro-tts": 3,
    "upscale": 1,
    "noop": 1,
}
WORKER_MODELS = ("flux-schnell", "sdxl")
WORKER = "worker-bench"
BALANCE = Decimal(1_000_000_000)
COST_MICROS = 10_000
RUN = secrets.token_hex(4)
#: The listings measured, 20 jobs a page: name, whether it pages back from a job, filter.
LISTINGS = (
    ("list_jobs, newest page", False, JobFilter()),
    ("list_jobs, page before a job", True, JobFilter()),
    ("list_jobs, status failed", False, JobFilter(statuses=("failed",))),
    ("list_jobs, queued or running", False, JobFilter(statuses=("queued", "running"))),
)

#: The columns the fill writes; the others keep their defaults.
FILL_COLUMNS = (
    "id",
    "account_id",
    "model",
    "input",
    "status",
    "priority",
    "metadata",
    "progress_step",
    "progress_total",
    "outputs",
    "error_code",
    "error_message",
    "cost_estimate_micros",
    "cost_actual_micros",
    "created_at",
    "started_at",
    "finished_at",
    "inference_time",
    "attempts",
    "worker_id",
    "lease_expires_at",
    "expires_at",
    "idempotency_key",
    "fingerprint",
    "origin_api",
    "origin_model",
    "origin_request",
)


# -- the history -------------------------------------------------------------------------------
def _terminal(rng: random.Random) -> str:
    r = rng.random()
    return "succeeded" if r < 0.93 else "failed" if r < 0.98 else "canceled"


def history(
    n: int, accounts: Sequence[Account], weights: Sequence[float], active: float, now: float
) -> Iterator[tuple[Any, ...]]:
    """``n`` job rows (``FILL_COLUMNS``), oldest first; the newest ``active`` share unfinished."""
    rng = random.Random(n)
    owners = rng.choices([a.id for a in accounts], weights, k=n)
    models = rng.choices(list(MODELS), list(MODELS.values()), k=n)
    first_active = n - max(1, round(n * active))
    first_queued = first_active + max(1, (n - first_active) // 10)
    for i in range(n):
        created = now - HISTORY_SECONDS * (1 - i / n)
        job_id = "job_" + rng.randbytes(12).hex()
        status = _terminal(rng) if i < first_active else "running" if i < first_queued else "queued"
        started = None if status == "queued" else created + 0.4
        ended = status not in ("queued", "running")
        outputs = "[]"
        if status == "succeeded":
            outputs = (
                f'[{{"key":"{job_id}/0.png","content_type":"image/png","size":1482113,'
                f'"sha256":"{rng.randbytes(32).hex()}","width":1024,"height":1024}}]'
            )
        keyed = rng.random() < 0.1
        dialect = rng.random() < 0.1
        yield (
            job_id,
            owners[i],
            models[i],
            f'{{"prompt":"a lighthouse in a storm, watercolour, study {i}","steps":28}}',
            status,
            10 if rng.random() < 0.05 else 0,
            "{}",
            28 if status == "succeeded" else 0,
            28 if status == "succeeded" else 0,
            outputs,
            "model_error" if status == "failed" else None,
            "CUDA out of memory" if status == "failed" else None,
            COST_MICROS,
            (COST_MICROS if status == "succeeded" else 0) if ended else None,
            created,
            started,
            created + 3.1 if ended else None,
            2.6 if status == "succeeded" else None,
            0 if status == "queued" else 1,
            "worker-7" if status == "running" else None,
            now + 60 if status == "running" else None,
            created + RETENTION_SECONDS,
            f"key-{i}" if keyed else None,
            rng.randbytes(16).hex() if keyed else None,
            "openai" if dialect else None,
            "gpt-image-1" if dialect else None,
            '{"size":"1024x1024"}' if dialect else "{}",
        )


# -- the engines -------------------------------------------------------------------------------
class Bed(abc.ABC):
    """One store filled with history, and a side connection for the fill and the plans."""

    engine = ""

    def __init__(self, url: str, size: int) -> None:
        self.size = size
        self.store = open_store(url)
        assert isinstance(self.store, SQLStore)
        # The engine adapter spells each statement exactly as the store sends it.
        self.db: Engine = self.store._db
        now = time.time()
        self.accounts = [
            self.store.ensure_account(f"account-{k}", BALANCE if k % 2 else None, now)
            for k in range(ACCOUNTS)
        ]
        self.weights = [1 / (k + 1) for k in range(ACCOUNTS)]

    def fill(self, active: float) -> None:
        rows = history(self.size, self.accounts, self.weights, active, time.time())
        self._load(rows)

    @abc.abstractmethod
    def _load(self, rows: Iterator[tuple[Any, ...]]) -> None: ...

    @abc.abstractmethod
    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def plan(self, sql: Sql | Change, args: dict[str, Any]) -> tuple[str, list[str]]:
        """How the plan was found, and the plan the statement runs with."""

    @abc.abstractmethod
    def indexes(self) -> dict[str, str]: ...

    def server_ns(self) -> int | None:
        """CPU nanoseconds the store's database server process has used, when known."""
        return None

    def close(self) -> None:
        self.store.close()


class SQLiteBed(Bed):
    engine = "SQLite"

    def __init__(self, folder: Path, size: int, analyze: bool) -> None:
        path = folder / f"history-{size}.db"
        super().__init__(f"sqlite:///{path}", size)
        self.analyze = analyze
        self.conn = sqlite3.connect(path, isolation_level=None)

    def _load(self, rows: Iterator[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(FILL_COLUMNS))
        self.conn.execute("PRAGMA cache_size = -262144")
        self.conn.execute("BEGIN")
        self.conn.executemany(
            f"INSERT INTO jobs ({', '.join(FILL_COLUMNS)}) VALUES ({marks})", rows
        )
        self.conn.execute("COMMIT")
        if self.analyze:
            self.conn.execute("ANALYZE")

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql.replace("%s", "?"), args).fetchall()

    def plan(self, sql: Sql | Change, args: dict[str, Any]) -> tuple[str, list[str]]:
        text = sqlite_engine.spelled(sql.sql if isinstance(sql, Change) else sql)
        found = self.conn.execute(f"EXPLAIN QUERY PLAN {text}", args).fetchall()
        # Rows are (id, parent, notused, detail): indent each under its parent.
        depth = {0: 0}
        lines = []
        for node, parent, _, detail in found:
            depth[node] = depth.get(parent, 0) + 1
            lines.append("  " * (depth[node] - 1) + detail)
        return "EXPLAIN QUERY PLAN", lines or ["(no plan rows: a plain insert)"]

    def indexes(self) -> dict[str, str]:
        found = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'"
        ).fetchall()
        named = {name: " ".join((sql or "").split()) for name, sql in found}
        for name in named:
            if not named[name]:
                columns = [r[2] for r in self.conn.execute(f"PRAGMA index_info({name})")]
                named[name] = f"UNIQUE ({', '.join(columns)}), from the table's constraint"
        named["INTEGER PRIMARY KEY"] = "the table itself, by seq (the rowid)"
        return named

    def close(self) -> None:
        self.conn.close()
        super().close()


class PostgresBed(Bed):
    engine = "PostgreSQL"
    #: The server processes of every store of this process, to tell a reconnected one apart.
    backends: ClassVar[set[int]] = set()

    def __init__(self, base: str, size: int) -> None:
        self.base = base
        self.schema = f"bench_history_{RUN}_{size}"
        self.conn = psycopg.connect(admin_url(base), autocommit=True)
        self.conn.execute("LOAD 'auto_explain'")
        before = self._store_backends()
        # Commits do not wait for the disk: the flush costs the same with any history, and on
        # a shared disk its noise would hide the rest.
        options = urlencode({"options": "-csynchronous_commit=off"})
        super().__init__(f"{schema_url(base, self.schema)}&{options}", size)
        self.conn.execute(f'SET search_path TO "{self.schema}"')
        opened = self._store_backends() - before
        assert len(opened) == 1, f"expected one new store connection, found {len(opened)}"
        pid = opened.pop()
        PostgresBed.backends.add(pid)
        # Its CPU is readable when the server runs on this machine.
        self.backend = pid if Path(f"/proc/{pid}/schedstat").exists() else None
        # Plans are logged by auto_explain, to this connection.
        self.notices: list[str] = []
        self.conn.add_notice_handler(
            lambda notice: self.notices.append(notice.message_primary or "")
        )
        for setting in ("log_level = notice", "log_analyze = on", "log_buffers = on"):
            self.conn.execute(f"SET auto_explain.{setting}")

    def _store_backends(self) -> set[int]:
        """The pids of the server processes serving the stores of this process."""
        sql = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        return {int(pid) for (pid,) in self.rows(sql, (f"genq-{os.getpid()}",))}

    def _load(self, rows: Iterator[tuple[Any, ...]]) -> None:
        with self.conn.cursor().copy(f"COPY jobs ({', '.join(FILL_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # As autovacuum leaves a table that has stopped growing: visibility map set, analyzed.
        self.conn.execute("VACUUM (ANALYZE) jobs")
        self.conn.execute("ANALYZE accounts")

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql, args)
        return cursor.fetchall() if cursor.description else []

    def plan(self, sql: Sql | Change, args: dict[str, Any]) -> tuple[str, list[str]]:
        assert isinstance(self.db, pg_engine.PostgresEngine)
        text = self.db.statement(sql) if isinstance(sql, Change) else pg_engine.spelled(sql)
        self.notices.clear()
        self.conn.execute("DEALLOCATE ALL")
        # Within one transaction, rolled back: psycopg forgets its prepared statements when a
        # transaction is rolled back.
        with self.conn.transaction(force_rollback=True):
            self.conn.execute("SET LOCAL auto_explain.log_min_duration = 0")
            # After five custom plans PostgreSQL may switch to a generic one: run past that.
            for _ in range(6):
                self.conn.execute(text, {"event_at": time.time(), **args}, prepare=True)
            plan = self.notices[-1].split("\n")
            sql = "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            generic, custom = self.rows(sql)[0]
        # The first lines are the duration and the query text; the plan follows.
        start = next(i for i, line in enumerate(plan) if not line.startswith(("duration", "Query")))
        how = f"auto_explain, 6th run prepared; plans so far: {generic} generic, {custom} custom"
        return how, plan[start:]

    def indexes(self) -> dict[str, str]:
        found = self.rows(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = %s AND tablename = 'jobs'",
            (self.schema,),
        )
        return {name: definition.split(" USING ", 1)[-1] for name, definition in found}

    def server_ns(self) -> int | None:
        if self.backend is None:
            return None
        try:
            with open(f"/proc/{self.backend}/schedstat") as stat:
                return int(stat.read().split()[0])
        except FileNotFoundError:
            # Someone ended the store's connection; the store opens another on its next call.
            new = self._store_backends() - PostgresBed.backends
            if new:
                self.backend = new.pop()
                PostgresBed.backends.add(self.backend)
            return None

    def close(self) -> None:
        self.conn.close()
        super().close()
        drop_schema(self.base, self.schema)


# -- measuring ---------------------------------------------------------------------------------
class BenchError(Exception):
    """The store did not answer as the workload expects (a claim found no job)."""


@dataclass(frozen=True)
class Cost:
    """One operation's cost per call, in microseconds."""

    wall: float
    cpu: float
    server: float | None
    #: How many jobs a call returned, on average (None: not a list of jobs).
    rows: float | None

    def best(self, other: Cost) -> Cost:
        """The lower of each figure: the least disturbed of two rounds."""
        server = (
            None if self.server is None or other.server is None else min(self.server, other.server)
        )
        return Cost(min(self.wall, other.wall), min(self.cpu, other.cpu), server, self.rows)


class Meter:
    """Times calls: wall time, this process's CPU and the server's CPU of each."""

    def __init__(self, bed: Bed) -> None:
        self.bed = bed
        self.calls: dict[str, list[tuple[float, float, int | None, int | None]]] = {}

    def timed(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        server = self.bed.server_ns()
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn(*args, **kwargs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = None if server is None else self.bed.server_ns()
        spent = None if server is None or after is None else after - server
        rows = len(result) if isinstance(result, list) else None
        self.calls.setdefault(name, []).append((wall, cpu, spent, rows))
        return result

    def costs(self) -> dict[str, Cost]:
        found = {}
        for name, calls in self.calls.items():
            walls, cpus, servers, rows = zip(*calls, strict=True)
            known = [spent for spent in servers if spent is not None]
            server = 1e-3 * statistics.fmean(known) if known else None
            found[name] = Cost(
                1e6 * statistics.median(walls),
                1e6 * statistics.median(cpus),
                server,
                None if rows[0] is None else statistics.fmean(rows),
            )
        return found


OUTPUT = OutputRecord("out/0.png", "image/png", 1482113, "0" * 64, width=1024, height=1024)


def new_job(account_id: str, model: str, now: float, priority: int = 0) -> NewJob:
    return NewJob(
        id="job_" + secrets.token_hex(12),
        account_id=account_id,
        model=model,
        input={"prompt": "a lighthouse in a storm, watercolour", "steps": 28},
        priority=priority,
        metadata={},
        cost_estimate=Decimal(COST_MICROS) / 1_000_000,
        created_at=now,
        expires_at=now + RETENTION_SECONDS,
    )


def random_jobs(bed: Bed, count: int, rng: random.Random) -> list[tuple[int, str, str]]:
    """``(seq, id, account_id)`` of ``count`` jobs drawn at random from the whole history."""
    (top,) = bed.rows("SELECT MAX(seq) FROM jobs")[0]
    sql = "SELECT seq, id, account_id FROM jobs WHERE seq >= %s ORDER BY seq LIMIT 1"
    found = [bed.rows(sql, (rng.randint(1, top),))[0] for _ in range(count)]
    return [(int(seq), str(job_id), str(account)) for seq, job_id, account in found]


def queued_jobs(bed: Bed, count: int, now: float) -> list[JobRecord]:
    found = bed.rows(
        "SELECT id, account_id FROM jobs WHERE status = 'queued' ORDER BY random() LIMIT %s",
        (count,),
    )
    jobs = [bed.store.get_job(account, job_id, now) for job_id, account in found]
    return [job for job in jobs if job is not None]


def submits(meter: Meter, calls: int, rng: random.Random) -> None:
    """Submit to accounts with a balance and without, then delete what was submitted."""
    bed, store, now = meter.bed, meter.bed.store, time.time()
    made = []
    for name, parity in (("submit, account with a balance", 1), ("submit, no balance", 0)):
        accounts = bed.accounts[parity::2]
        weights = bed.weights[parity::2]
        for account in rng.choices(accounts, weights, k=calls):
            model = rng.choices(list(MODELS), list(MODELS.values()))[0]
            made.append(meter.timed(name, store.submit, new_job(account.id, model, now)).job)
    for job in made:
        store.delete_job(job.account_id, job.id, now)


def reads(meter: Meter, calls: int, rng: random.Random) -> None:
    """get_job and list_jobs on the jobs (and their accounts) of random points in history."""
    store, now = meter.bed.store, time.time()
    picks = random_jobs(meter.bed, calls, rng)
    for _, job_id, account in picks:
        meter.timed("get_job", store.get_job, account, job_id, now)
    for name, before, where in LISTINGS:
        for seq, _, account in picks:
            cursor = seq if before else None
            meter.timed(
                name, store.list_jobs, account, now, limit=PAGE, before_seq=cursor, where=where
            )


def claims(meter: Meter, calls: int, rng: random.Random) -> None:
    """Claim and finish jobs; each finished job is deleted and a queued one takes its place."""
    store = meter.bed.store
    for _ in range(calls):
        now = time.time()
        taken = meter.timed("claim", store.claim, WORKER, WORKER_MODELS, now, 60.0)
        if not taken:
            raise BenchError(f"no queued job of {', '.join(WORKER_MODELS)} to claim")
        job = taken[0].job
        meter.timed("finish", store.finish, taken[0], now, outputs=[OUTPUT])
        store.delete_job(job.account_id, job.id, now)
        store.submit(new_job(job.account_id, job.model, now, job.priority))


def positions(meter: Meter, calls: int, rng: random.Random) -> None:
    for job in queued_jobs(meter.bed, calls, time.time()):
        meter.timed("queue_position", meter.bed.store.queue_position, job)


def measure_round(beds: Sequence[Bed], calls: int, rng: random.Random) -> list[dict[str, Cost]]:
    """Each group of operations on each store in turn, so that both meet the same load from
    whatever else runs on the machine."""
    meters = [Meter(bed) for bed in beds]
    for phase in (submits, reads, claims, positions):
        for meter in meters:
            phase(meter, calls, rng)
    return [meter.costs() for meter in meters]


# -- plans -------------------------------------------------------------------------------------
def statements(bed: Bed, rng: random.Random) -> list[tuple[str, Sql | Change, dict[str, Any]]]:
    """Each statement the measured operations run, with arguments like theirs."""
    now, db = time.time(), bed.db
    seq, job_id, account = random_jobs(bed, 1, rng)[0]
    queued = queued_jobs(bed, 1, now)[0]
    new = new_job(bed.accounts[1].id, WORKER_MODELS[0], now)
    submit = job_columns(new, db.json)
    fence = {"id": queued.id, "worker_id": WORKER, "attempt": 1}
    found: list[tuple[str, Sql | Change, dict[str, Any]]] = [
        ("submit: balance and keyed job", q.BALANCE_AND_KEYED_JOB, submit),
        ("submit: lock the balance", q.LOCK_BALANCE, submit),
        ("submit: what unfinished jobs hold", q.HELD, {"account_id": new.account_id}),
        ("submit: insert", q.INSERT_JOB, submit),
        ("get_job", q.LIVE_JOB, {"id": job_id, "account_id": account, "now": now}),
    ]
    for name, before, where in LISTINGS:
        cursor = seq if before else None
        sql, args = q.list_jobs(account, now, limit=PAGE, before_seq=cursor, offset=0, where=where)
        found.append((name, sql, args))
    claim = {"models": db.array(WORKER_MODELS), "model": WORKER_MODELS[0], "batch_key": None}
    claim.update(now=now, limit=1, worker_id=WORKER, lease=now + 60)
    if db.exclusive_writes:
        found.append(("claim: peek", q.ANY_QUEUED, claim))
    finish = dict(fence, status="succeeded", outputs=db.json([OUTPUT.to_dict()]))
    finish.update(error_code=None, error_message=None, charge=COST_MICROS, inference_time=2.6)
    finish.update(now=now, done=True)
    found += [
        ("claim", q.CLAIM, claim),
        ("finish: lock the claimed job", q.LOCK_CLAIMED, fence),
        ("finish", q.FINISH, finish),
        ("finish: charge", q.CHARGE, {"charge": COST_MICROS, "account_id": new.account_id}),
        (
            "queue_position",
            q.QUEUE_POSITION,
            {"id": queued.id, "model": queued.model, "priority": queued.priority},
        ),
    ]
    return found


SQLITE_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)|USING (INTEGER PRIMARY KEY)")
SQLITE_TABLE_SCAN = re.compile(r"^\s*SCAN (\w+)\s*$")
SQLITE_INDEX_SCAN = re.compile(r"^\s*SCAN \w+ USING (?:COVERING )?INDEX (\w+)")
PG_INDEX = re.compile(r"Index (?:Only )?Scan(?: Backward)? using (\w+)|Bitmap Index Scan on (\w+)")
PG_TABLE_SCAN = re.compile(r"Seq Scan on (\w+)")
PG_THROWN = re.compile(r"Rows Removed by Filter: (\d+)")
PG_SORT = re.compile(r"(^|->  )(Incremental )?Sort  \(")


def reading(engine: str, lines: list[str]) -> tuple[list[str], list[str]]:
    """The indexes a plan uses, and what in it does not scale: full scans and sorts."""
    text = "\n".join(lines)
    flags = []
    if engine == "SQLite":
        used = [a or b for a, b in SQLITE_INDEX.findall(text)]
        flags += [f"FULL SCAN of {t}" for t in SQLITE_TABLE_SCAN.findall(text) if t != "json_each"]
        flags += [
            f"walks all of index {i}" for line in lines for i in SQLITE_INDEX_SCAN.findall(line)
        ]
        flags += ["SORT (temp b-tree)" for line in lines if "USE TEMP B-TREE" in line]
    else:
        used = [a or b for a, b in PG_INDEX.findall(text)]
        flags += [f"FULL SCAN of {t}" for t in PG_TABLE_SCAN.findall(text)]
        flags += ["SORT" for line in lines if PG_SORT.search(line.strip())]
        thrown = sum(int(n) for n in PG_THROWN.findall(text))
        if thrown >= 100:
            flags.append(f"reads {thrown:,} rows that its filter throws away")
    return list(dict.fromkeys(used)), list(dict.fromkeys(flags))


def print_plans(bed: Bed, rng: random.Random) -> None:
    print(f"\n{bed.engine}: plans with {bed.size:,} jobs. The indexes on jobs:")
    for name, definition in sorted(bed.indexes().items()):
        print(f"  {name:28} {definition}")
    for name, sql, args in statements(bed, rng):
        how, lines = bed.plan(sql, args)
        used, flags = reading(bed.engine, lines)
        print(f"\n{name} ({how}):")
        for line in lines:
            print(f"    {line}")
        print(f"  uses: {', '.join(used) or 'no index'}", end="")
        print(f"; {', '.join(flags)}" if flags else "; no full scan, no sort")


# -- the report --------------------------------------------------------------------------------
def size_name(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{n / 1000:g}k"


def print_table(
    engine: str, sizes: tuple[int, int], costs: tuple[dict[str, Cost], dict[str, Cost]]
) -> bool:
    """Print each operation's costs with both histories; True when one misses the target."""
    small, big = costs
    # (name, figure, judged): on PostgreSQL the CPU of both sides is judged when the server's
    # is known, since wall time on a shared machine measures the machine's load too.
    figures: list[tuple[str, Callable[[Cost], float], bool]] = [("CPU", _cpu, True)]
    if engine == "PostgreSQL":
        known = all(cost.server is not None for cost in small.values())
        figures = [("wall", _wall, not known), ("genq CPU", _cpu, False)]
        if known:
            figures += [("server CPU", _server, False), ("CPU, both", _both, True)]
    a, b = map(size_name, sizes)
    print(f"\n{engine}: µs per call with {a} and with {b} jobs of history")
    head = "".join(f" | {name:>10} {a:>5} {b:>7} {'ratio':>5}" for name, _, _ in figures)
    print(f"{'operation':31} | {'jobs returned':>13}{head} | verdict")
    missed = False
    for name in small:
        returned = (
            "" if small[name].rows is None else f"{small[name].rows:.1f} {big[name].rows:.1f}"
        )
        row, worst = f"{name:31} | {returned:>13}", 0.0
        for _, figure, judged in figures:
            ratio = figure(big[name]) / max(figure(small[name]), 1e-9)
            worst = max(worst, ratio) if judged else worst
            row += f" | {'':10} {figure(small[name]):5.0f} {figure(big[name]):7.0f} {ratio:5.2f}"
        missed = missed or worst > TARGET_RATIO
        print(f"{row} | {'ok' if worst <= TARGET_RATIO else 'MISS'}")
    rule = " and ".join(name for name, _, judged in figures if judged)
    print(f"(verdict: ok when the ratio of {rule} is at most {TARGET_RATIO})")
    return missed


def _wall(cost: Cost) -> float:
    return cost.wall


def _cpu(cost: Cost) -> float:
    return cost.cpu


def _server(cost: Cost) -> float:
    return cost.server or 0.0


def _both(cost: Cost) -> float:
    return cost.cpu + (cost.server or 0.0)


# -- running -----------------------------------------------------------------------------------
def filled(bed: Bed, args: argparse.Namespace) -> Bed:
    started = time.perf_counter()
    bed.fill(args.active)
    for sql in args.try_index:
        bed.rows(sql)
    print(f"  {bed.engine}: {bed.size:,} jobs filled in {time.perf_counter() - started:.1f} s")
    return bed


def measure_engine(engine: str, args: argparse.Namespace) -> bool:
    """Fill, measure and explain one engine; True when an operation misses the target."""
    rng = random.Random(7)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="genq-history-")))

        def bed(size: int) -> Bed:
            made: Bed = (
                SQLiteBed(folder, size, args.analyze)
                if engine == "SQLite"
                else PostgresBed(args.db, size)
            )
            stack.callback(made.close)
            return filled(made, args)

        beds = (bed(SMALL), bed(args.jobs))
        best: list[dict[str, Cost]] = [{}, {}]
        for number in range(args.rounds):
            for i, costs in enumerate(measure_round(beds, args.calls, rng)):
                for name, cost in costs.items():
                    best[i][name] = best[i][name].best(cost) if name in best[i] else cost
            print(f"  {engine}: round {number + 1} of {args.rounds} measured")
        missed = print_table(engine, (SMALL, args.jobs), (best[0], best[1]))
        print_plans(beds[1], rng)
    return missed


def engines(args: argparse.Namespace) -> list[str]:
    """SQLite and PostgreSQL as asked; neither asked: SQLite, and PostgreSQL if it answers."""
    if args.sqlite or args.postgres:
        return ["SQLite"] * args.sqlite + ["PostgreSQL"] * args.postgres
    try:
        psycopg.connect(admin_url(args.db), connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL at {args.db} does not answer ({exc}): SQLite only")
        return ["SQLite"]
    return ["SQLite", "PostgreSQL"]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="the large history's size")
    parser.add_argument("--active", type=float, default=0.01, help="share queued or running")
    parser.add_argument("--calls", type=int, default=300, help="calls per operation and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="measure on SQLite")
    parser.add_argument("--postgres", action="store_true", help="measure on PostgreSQL")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"PostgreSQL URL ({DEFAULT_DB})")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on SQLite too")
    parser.add_argument(
        "--try-index",
        action="append",
        default=[],
        metavar="SQL",
        help="an experiment: run this statement (CREATE INDEX ...) on both stores after filling",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    print(
        f"genq store costs with {SMALL:,} and {args.jobs:,} jobs of history over {ACCOUNTS}"
        f" accounts, {args.active:.1%} queued or running; {args.calls} calls per operation,"
        f" best of {args.rounds} rounds"
    )
    for sql in args.try_index:
        print(f"EXPERIMENT, not genq's schema: {sql}")
    missed = False
    for engine in engines(args):
        try:
            missed = measure_engine(engine, args) or missed
        except BenchError as exc:
            print(f"\nFAILED on {engine}: {exc}", file=sys.stderr)
            return 1
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
