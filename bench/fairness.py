"""Benchmark of fair shares: ``python bench/fairness.py [--baseline REV]``.

Starts ``genq serve`` (SQLite, ``--workers`` worker processes) and runs ``noop`` jobs of
``--job-ms`` milliseconds through HTTP:

- backlog: account A queues ``--backlog`` jobs; once the workers are busy with them, account
  B queues 5. Printed: B's wait (submit to start, the longest of its five) and how many of
  A's jobs started meanwhile. With strict submission order B waits for the whole backlog.
- shares: accounts of weights 3 and 1 queue more than the workers can do; printed: their
  worker time while both wait, and its ratio (target: 3 within 10 %).

With ``--baseline REV`` the backlog run is first made on genq at that revision (a worktree,
as ``bench/reads.py`` does), the tree before fair shares, and printed beside it; the shares
run needs weights, which only this tree has.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from baseline import baseline_tree

GENQ = [sys.executable, "-m", "genq"]
TARGETS = {"b_jobs_started_before_it": 30, "share_ratio_error": 0.10}


class Server:
    def __init__(self, workers: int, data_dir: Path, source: Path | None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.config = data_dir.parent / "bench.toml"
        self.config.write_text(f"workers = {workers}\n")
        self.env = None if source is None else {**os.environ, "PYTHONPATH": str(source)}
        self.source = source
        self.process = subprocess.Popen(
            [*GENQ, "serve", "--port", str(self.port), *self.where(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=source,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).json().get("workers") == workers:
                    break
            time.sleep(0.1)
        else:
            raise TimeoutError("the server did not start within a minute")
        self.key = (data_dir / "api-key").read_text().strip()

    def where(self, data_dir: Path) -> list[str]:
        return ["--data-dir", str(data_dir), "--config", str(self.config)]

    def new_key(self, account: str) -> str:
        done = subprocess.run(
            [*GENQ, "keys", "create", "--account", account, *self.where(self.data_dir)],
            capture_output=True,
            text=True,
            check=True,
            cwd=self.source,
            env=self.env,
        )
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def submit(client: httpx.AsyncClient, n: int, job_ms: int) -> list[str]:
    """``n`` jobs, eight requests at a time, in order of their ids' submits."""
    body = {"model": "noop", "input": {"sleep_ms": job_ms}}
    ids: list[str] = []
    for start in range(0, n, 8):
        answers = await asyncio.gather(
            *(client.post("/v1/jobs", json=body) for _ in range(min(8, n - start)))
        )
        ids += [answer.json()["id"] for answer in answers]
    return ids


async def read(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 50):
        answers = await asyncio.gather(
            *(client.get(f"/v1/jobs/{i}") for i in ids[start : start + 50])
        )
        found += [answer.json() for answer in answers]
    return found


def client(server: Server, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


async def backlog_run(server: Server, backlog: int, job_ms: int) -> dict[str, float]:
    b_key = server.new_key("b")
    async with client(server, server.key) as a, client(server, b_key) as b:
        mine_a = await submit(a, backlog, job_ms)
        # Polled: the job's state is in another process.
        while (await a.get(f"/v1/jobs/{mine_a[3]}")).json()["status"] == "queued":  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        submitted = time.time()
        mine_b = await submit(b, 5, job_ms)
        while True:
            found = await read(b, mine_b)
            if all(job["started_at"] for job in found):
                break
            await asyncio.sleep(0.05)
        last = max(at(job["started_at"]) for job in found)
        started_a = [
            job
            for job in await read(a, mine_a)
            if job["started_at"] and submitted <= at(job["started_at"]) < last
        ]
    return {"b_wait_s": last - submitted, "a_started_meanwhile": len(started_a)}


async def shares_run(server: Server, per_account: int, job_ms: int) -> dict[str, float]:
    light_key = server.new_key("light")
    async with client(server, server.key) as heavy, client(server, light_key) as light:
        account = (await heavy.get("/v1/account")).json()["id"]
        changed = await heavy.patch(f"/v1/admin/accounts/{account}", json={"weight": 3})
        changed.raise_for_status()
        heavy_ids, light_ids = await asyncio.gather(
            submit(heavy, per_account, job_ms), submit(light, per_account, job_ms)
        )
        while True:
            found = {"heavy": await read(heavy, heavy_ids), "light": await read(light, light_ids)}
            if any(all(j["finished_at"] for j in jobs) for jobs in found.values()):
                break
            await asyncio.sleep(0.2)
    # While both still had jobs waiting: until the first account's last job started.
    window_end = min(
        max(at(j["started_at"]) for j in jobs if j["started_at"]) for jobs in found.values()
    )
    spent = {
        name: sum(
            min(at(j["finished_at"]), window_end) - at(j["started_at"])
            for j in jobs
            if j["finished_at"] and at(j["started_at"]) < window_end
        )
        for name, jobs in found.items()
    }
    return {
        "heavy_s": spent["heavy"],
        "light_s": spent["light"],
        "ratio": spent["heavy"] / spent["light"],
    }


def run(args: argparse.Namespace, source: Path | None, shares: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="genq-fair-") as tmp:
        server = Server(args.workers, Path(tmp) / "data", source)
        try:
            figures = asyncio.run(backlog_run(server, args.backlog, args.job_ms))
        finally:
            server.stop()
        if shares:
            server = Server(args.workers, Path(tmp) / "data2", source)
            try:
                figures |= asyncio.run(shares_run(server, args.per_account, args.job_ms))
            finally:
                server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--job-ms", type=int, default=50)
    parser.add_argument("--backlog", type=int, default=500)
    parser.add_argument("--per-account", type=int, default=300)
    parser.add_argument("--baseline", help="a git revision to measure first, for comparison")
    args = parser.parse_args()
    before = None
    if args.baseline:
        with baseline_tree(args.baseline) as (commit, tree):
            print(f"baseline {commit}: backlog run ...", flush=True)
            before = run(args, tree, shares=False)
    print("this tree: backlog and shares runs ...", flush=True)
    now = run(args, None, shares=True)
    print(f"\n{args.workers} workers, noop {args.job_ms} ms, A's backlog {args.backlog}")
    for name in ("b_wait_s", "a_started_meanwhile"):
        was = "" if before is None else f"   (baseline {before[name]:.2f})"
        print(f"  {name:<22} {now[name]:8.2f}{was}")
    print(f"  target: B's jobs all start before A's {TARGETS['b_jobs_started_before_it']}th")
    print(f"\nweights 3:1, {args.per_account} jobs each")
    print(f"  heavy worker s {now['heavy_s']:8.2f}\n  light worker s {now['light_s']:8.2f}")
    error = abs(now["ratio"] - 3) / 3
    within = TARGETS["share_ratio_error"]
    print(f"  ratio {now['ratio']:.2f} (target 3 within {within:.0%}: off {error:.1%})")


if __name__ == "__main__":
    main()
