"""An S3 server for tests: moto's standalone server in a child process, spoken to over HTTP
with boto3 as a real bucket would be. It is an emulator, not an S3-compatible server: it does
not enforce a presigned link's expiry, so tests read the expiry from the link itself
(``presigned_expiry``).

Use the session-wide fixture with ``from tests.s3server import s3_server  # noqa: F401``.
boto3 finds the server through its standard environment variables:

- in this process, ``s3_server.patch_env(monkeypatch)`` before opening a storage;
- in a child process (``genq serve``, ``genq worker``), ``env=s3_server.environ()``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def presigned_expiry(url: str) -> float:
    """When a presigned URL expires, from its own X-Amz-Date and X-Amz-Expires.

    moto does not refuse expired presigned URLs, so tests read the expiry instead.
    """
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed.timestamp() + int(query["X-Amz-Expires"])


class S3Server:
    """moto's S3 server on a free 127.0.0.1 port; its output goes to ``log_path``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._client: S3Client | None = None

    @property
    def env(self) -> dict[str, str]:
        """The variables that point boto3 at this server with fake credentials.

        The shared config files are blanked so that a developer's own profile, region or
        endpoint cannot leak in; set these over an environment without other ``AWS_*``.
        """
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A whole environment for a child process: ``base`` (``os.environ``) without its
        ``AWS_*`` variables, plus :attr:`env`."""
        base = os.environ if base is None else base
        return {k: v for k, v in base.items() if not k.startswith("AWS_")} | self.env

    def patch_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point boto3 in this process at the server until the test ends."""
        for name in os.environ:
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def client(self) -> S3Client:
        """A boto3 client for the server, whatever this process's environment says: one for
        every caller (boto3's clients may be shared between threads), as making one takes
        a tenth of a second or more."""
        if self._client is None:
            import boto3

            self._client = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            ).client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket, by default with a fresh unique name, and return its name."""
        name = name or f"genq-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def start(self, timeout: float = 30) -> S3Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environ(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with {self.process.returncode}; see {self.log_path}"
                )
            # Any HTTP answer at all means it is serving.
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not answer in {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


_shared: S3Server | None = None
_users = 0


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto server for the whole session.

    Each module that imports this fixture gets its own copy of it from pytest, so the copies
    share one server, which the last of them stops.
    """
    global _shared, _users
    if _shared is None:
        _shared = S3Server(tmp_path_factory.mktemp("s3") / "moto.log").start()
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0:
            _shared.stop()
            _shared = None
