"""Shared fixtures: a real ``genq serve`` process on a free port, with its own data dir.

Every test that uses a server runs once per backend: ``sqlite`` (the embedded default: SQLite
and local files) and ``postgres`` (PostgreSQL and an S3-compatible bucket, each server with a
schema and a bucket of its own). ``@pytest.mark.backends("sqlite")`` limits a test to some.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from genq.keys import create_key
from genq.settings import Settings
from genq.store import open_store
from tests.pg import drop_emptied, drop_schema, new_schema, store_url
from tests.s3server import S3Server, s3_server

__all__ = ["s3_server"]

BACKENDS = ("sqlite", "postgres")

# Settings that keep tests quick: short polls and sweeps, a short cancel grace period.
FAST_SETTINGS = {
    "workers": 2,
    "cancel_grace_seconds": 2.0,
    "sweep_interval_seconds": 0.5,
    "poll_interval_seconds": 0.5,
    "lease_seconds": 6.0,
    "progress_interval_seconds": 0.0,
}


#: The options of ``genq keys create`` that ``GenqServer.new_key`` takes.
KEYS_CREATE = argparse.ArgumentParser(exit_on_error=False)
KEYS_CREATE.add_argument("--name")
KEYS_CREATE.add_argument("--credits")
KEYS_CREATE.add_argument("--admin", action="store_true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


class Backend:
    """Where a test server keeps its jobs and files."""

    def __init__(self, name: str, s3: S3Server | None = None) -> None:
        self.name = name
        self.s3 = s3
        self.schemas: list[str] = []

    def settings(self) -> dict[str, Any]:
        """Settings for one more server: its own schema and bucket (none for sqlite)."""
        if self.name == "sqlite":
            return {}
        assert self.s3 is not None
        schema = new_schema()
        self.schemas.append(schema)
        return {"db": store_url(schema), "storage": f"s3://{self.s3.create_bucket()}/results"}

    def env(self) -> dict[str, str]:
        return dict(os.environ) if self.s3 is None else self.s3.environ()

    def cleanup(self) -> None:
        for schema in self.schemas:
            drop_schema(schema)
        self.schemas.clear()


class GenqServer:
    """A ``genq serve`` child process and an HTTP client for it."""

    def __init__(
        self,
        data_dir: Path,
        toml: str = "",
        backend: Backend | None = None,
        tls_ca: str | None = None,
        **settings: Any,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.config = data_dir.parent / f"{data_dir.name}.toml"
        self.backend = backend or Backend("sqlite")
        self.env = self.backend.env()
        merged = {**FAST_SETTINGS, **self.backend.settings(), **settings}
        self.settings = merged
        # With tls_cert (and tls_key) it serves HTTPS, checked against the CA file tls_ca.
        self.url = f"{'https' if 'tls_cert' in merged else 'http'}://127.0.0.1:{self.port}"
        self.verify: ssl.SSLContext | bool = True
        if tls_ca is not None:
            self.verify = ssl.create_default_context(cafile=tls_ca)
        flat = "".join(f"{k} = {toml_value(v)}\n" for k, v in merged.items())
        self.config.write_text(flat + toml)
        self.process: subprocess.Popen[bytes] | None = None
        self.key = ""
        #: GENQ_LOG_LEVEL of the server and its workers (their log is ``self.log``).
        self.log_level = "WARNING"

    def start(self, timeout: float = 30) -> GenqServer:
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "genq",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--config",
                    str(self.config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, "GENQ_LOG_LEVEL": self.log_level},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"genq serve exited with {self.process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                healthz = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify)
                if healthz.status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("genq serve did not become healthy")
        self.key = (self.data_dir / "api-key").read_text().strip()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def close(self) -> None:
        """End a server at the end of its tests. Nothing is checked of how it stops (the tests
        of SIGTERM call ``stop`` themselves), so it is killed: a graceful stop waits for every
        worker process to hand back its jobs and exit, for seconds on a busy machine."""
        self.kill()

    def kill(self) -> None:
        """SIGKILL the server and every worker process it started."""
        if self.process is None:
            return
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.kill()
        self.process.wait()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        self.process = None

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pids = []
        for child in psutil.Process(self.process.pid).children():
            # A worker just killed may not be reaped yet: a zombie has no command line.
            with contextlib.suppress(psutil.NoSuchProcess):
                if "spawn_main" in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return pids

    def stored_files(self, job_id: str) -> list[str]:
        """The keys of a job's files as they are in the result storage."""
        storage = self.settings.get("storage")
        if storage is None:
            folder = self.data_dir / "files" / job_id
            return sorted(str(p.relative_to(folder.parent)) for p in folder.rglob("*.*"))
        assert self.backend.s3 is not None
        bucket, prefix = storage.removeprefix("s3://").split("/", 1)
        client = self.backend.s3.client()
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{job_id}/")
        return sorted(o["Key"].removeprefix(f"{prefix}/") for o in listed.get("Contents", []))

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        kwargs.setdefault("follow_redirects", True)
        kwargs.setdefault("verify", self.verify)
        return httpx.Client(base_url=self.url, headers=headers, timeout=90, **kwargs)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "genq",
                *args,
                "--data-dir",
                str(self.data_dir),
                "--config",
                str(self.config),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=self.env,
        )

    def new_key(self, account: str, *extra: str) -> str:
        """A key of ``account`` (made if new), as ``genq keys create --account ACCOUNT EXTRA``
        makes it (``--name``, ``--credits``, ``--admin``), but in this process: the command
        itself is tested in tests/http/test_errors_and_auth.py."""
        options = KEYS_CREATE.parse_args(extra)
        credits = None if options.credits is None else Decimal(options.credits)
        db = {"db": self.settings["db"]} if "db" in self.settings else {}
        store = open_store(Settings(data_dir=self.data_dir, **db).db_url)
        try:
            _, raw = create_key(
                store, account, name=options.name, credits=credits, admin=options.admin
            )
        finally:
            store.close()
        return raw


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on these backends (sqlite, postgres)"
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_emptied()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else BACKENDS
        metafunc.parametrize("backend_name", names, scope="session")


@pytest.fixture(scope="session")
def session_backends(
    request: pytest.FixtureRequest,
) -> Iterator[dict[str, Backend]]:
    backends: dict[str, Backend] = {}
    yield backends
    for backend in backends.values():
        backend.cleanup()


@pytest.fixture(scope="session")
def shared_backend(
    backend_name: str, session_backends: dict[str, Backend], request: pytest.FixtureRequest
) -> Backend:
    if backend_name not in session_backends:
        s3 = request.getfixturevalue("s3_server") if backend_name == "postgres" else None
        session_backends[backend_name] = Backend(backend_name, s3)
    return session_backends[backend_name]


@pytest.fixture
def backend(backend_name: str, request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The backend for servers made in one test; their schemas are dropped after it."""
    s3 = request.getfixturevalue("s3_server") if backend_name == "postgres" else None
    backend = Backend(backend_name, s3)
    yield backend
    backend.cleanup()


@pytest.fixture
def make_server(tmp_path: Path, backend: Backend) -> Iterator[Any]:
    """Start servers with given settings; all are stopped at the end of the test."""
    servers: list[GenqServer] = []

    def make(name: str = "data", toml: str = "", **settings: Any) -> GenqServer:
        server = GenqServer(tmp_path / name, toml, backend=backend, **settings).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend
) -> Iterator[GenqServer]:
    """One server per backend, shared by the tests that need no settings of their own."""
    directory = tmp_path_factory.mktemp(f"shared-{shared_backend.name}")
    server = GenqServer(directory / "data", backend=shared_backend).start()
    yield server
    server.close()


@pytest.fixture
def api(server: GenqServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def wait_for(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Long-poll a job until it is terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
        if job["status"] not in ("queued", "running"):
            return job
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def wait_until(predicate: Any, timeout: float = 20, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")
