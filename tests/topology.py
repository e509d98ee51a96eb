"""A scaled-out genq on this machine: API processes (``genq serve --no-workers``) and worker
processes (``genq worker``) sharing one PostgreSQL schema and one S3 bucket."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from genq.keys import create_key
from genq.store import open_store
from tests.conftest import FAST_SETTINGS, free_port, toml_value
from tests.pg import drop_schema, new_schema, store_url
from tests.s3server import S3Server


class Topology:
    def __init__(
        self,
        root: Path,
        s3: S3Server,
        toml: str = "",
        env: dict[str, str] | None = None,
        **settings: Any,
    ) -> None:
        self.root = root
        self.schema = new_schema("topo")
        self.db = store_url(self.schema)
        self.bucket = s3.create_bucket()
        merged = {
            **FAST_SETTINGS,
            "db": self.db,
            "storage": f"s3://{self.bucket}/results",
            **settings,
        }
        self.config = root / "genq.toml"
        self.config.write_text(
            "".join(f"{k} = {toml_value(v)}\n" for k, v in merged.items()) + toml
        )
        self.env = {**s3.environ(), "GENQ_LOG_LEVEL": "WARNING", **(env or {})}
        self.apis: list[tuple[subprocess.Popen[bytes], str]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs = 0
        # Made in this process, as `genq keys create --account topology` would make it (the
        # command itself is tested in tests/http/test_errors_and_auth.py): a second less.
        store = open_store(self.db)
        try:
            _, self.key = create_key(store, "topology")
        finally:
            store.close()

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self._logs += 1
        with (self.root / f"process-{self._logs}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "genq", *args, "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.root,
            )

    def start_api(self) -> str:
        port = free_port()
        data_dir = self.root / f"api-{port}"
        process = self._spawn(
            "serve", "--no-workers", "--port", str(port), "--data-dir", str(data_dir)
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "genq serve --no-workers exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        self.apis.append((process, url))
        return url

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        process = self._spawn("worker", "--data-dir", str(self.root / "worker"), *args)
        self.workers.append(process)
        return process

    def worker_children(self) -> list[psutil.Process]:
        """The processes that run jobs (children of the live ``genq worker`` processes)."""
        children = []
        for process in self.workers:
            if process.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    children += psutil.Process(process.pid).children()
        return children

    def client(self, url: str, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=60,
            follow_redirects=True,
            **kwargs,
        )

    def pids(self) -> set[int]:
        """Every process of this topology, children included."""
        found = set()
        for process in [p for p, _ in self.apis] + self.workers:
            if process.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    parent = psutil.Process(process.pid)
                    found |= {parent.pid, *(c.pid for c in parent.children(recursive=True))}
        return found

    def close(self) -> None:
        """Kill every process (nothing is checked of how they stop: the tests of SIGTERM send
        it themselves) and drop the schema."""
        for process in [p for p, _ in self.apis] + self.workers:
            if process.poll() is None:
                kill_tree(process.pid)
            process.wait()
        drop_schema(self.schema)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.root.glob("process-*.log"))
        )


def kill_tree(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        parent = psutil.Process(pid)
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        parent.kill()
