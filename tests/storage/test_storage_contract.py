"""The behaviour every file storage shares, checked against local files and a real S3 server."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from genq.errors import ConfigError
from genq.storage import FileStorage, open_storage
from genq.storage.local import LocalStorage
from genq.storage.s3 import S3Storage
from tests.s3server import S3Server, presigned_expiry, s3_server  # noqa: F401

BASE_URL = "http://genq.test"


class Backend:
    """Opens storages of one kind, each test's apart, and looks at what they hold."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def open(self, prefix: str = "") -> FileStorage:
        """A storage; storages opened with different prefixes share nothing."""
        raise NotImplementedError

    def fetch(self, storage: FileStorage, key: str) -> tuple[bytes, str | None]:
        """The bytes and content type (None where the storage keeps none) behind a link."""
        raise NotImplementedError

    def keys(self, storage: FileStorage) -> set[str]:
        """Every key the storage holds."""
        raise NotImplementedError

    def link_expiry(self, url: str) -> float:
        """When a link says it expires."""
        raise NotImplementedError

    def put(
        self, storage: FileStorage, key: str, data: bytes = b"x", content_type: str = ""
    ) -> None:
        source = self.tmp_path / "source"
        source.write_bytes(data)
        storage.put(key, source, content_type or None)


class LocalBackend(Backend):
    def open(self, prefix: str = "") -> FileStorage:
        return open_storage(f"file://{self.tmp_path / 'files' / prefix}", b"secret")

    def fetch(self, storage: FileStorage, key: str) -> tuple[bytes, str | None]:
        assert storage.served_by_genq
        url = urlsplit(storage.link(key, time.time() + 60, BASE_URL))
        assert url.path.startswith("/files/")
        linked = unquote(url.path.removeprefix("/files/"))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        storage.verify(linked, query["expires"], query["signature"])
        path = storage.local_path(linked)
        assert path is not None
        return path.read_bytes(), None

    def keys(self, storage: FileStorage) -> set[str]:
        assert isinstance(storage, LocalStorage)
        return {str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file()}

    def link_expiry(self, url: str) -> float:
        return float(parse_qs(urlsplit(url).query)["expires"][0])


class S3Backend(Backend):
    def __init__(self, tmp_path: Path, server: S3Server) -> None:
        super().__init__(tmp_path)
        self.server = server
        self.bucket = server.create_bucket()

    def open(self, prefix: str = "") -> FileStorage:
        return open_storage(f"s3://{self.bucket}/{prefix}", b"secret")

    def fetch(self, storage: FileStorage, key: str) -> tuple[bytes, str | None]:
        assert not storage.served_by_genq
        assert storage.local_path(key) is None
        response = httpx.get(storage.link(key, time.time() + 60, BASE_URL))
        assert response.status_code == 200, response.text
        return response.content, response.headers["content-type"]

    def keys(self, storage: FileStorage) -> set[str]:
        assert isinstance(storage, S3Storage)
        listing = self.server.client().list_objects_v2(Bucket=self.bucket, Prefix=storage.prefix)
        keys = {item["Key"] for item in listing.get("Contents", [])}
        return {k.removeprefix(storage.prefix).removeprefix("/") for k in keys}

    def link_expiry(self, url: str) -> float:
        return presigned_expiry(url)


@pytest.fixture(params=["local", "s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    if request.param == "local":
        yield LocalBackend(tmp_path)
        return
    # Looked up here so that running only the local cases starts no S3 server.
    server: S3Server = request.getfixturevalue("s3_server")
    server.patch_env(monkeypatch)
    yield S3Backend(tmp_path, server)


def test_put_then_fetch_through_the_link(backend: Backend) -> None:
    """A stored file's link fetches its bytes; storing a key again replaces the file."""
    storage = backend.open()
    backend.put(storage, "job_1/1/output-0.png", b"first", "image/png")
    backend.put(storage, "job_1/1/output-0.png", b"png bytes", "image/png")
    backend.put(storage, "job_1/1/output-1.txt", b"text", "text/plain; charset=utf-8")
    data, content_type = backend.fetch(storage, "job_1/1/output-0.png")
    assert data == b"png bytes"
    assert content_type in (None, "image/png")
    data, content_type = backend.fetch(storage, "job_1/1/output-1.txt")
    assert data == b"text"
    assert content_type in (None, "text/plain; charset=utf-8")
    assert backend.keys(storage) == {"job_1/1/output-0.png", "job_1/1/output-1.txt"}


def test_a_storage_says_whether_genq_serves_its_files(backend: Backend) -> None:
    """A storage served by genq has a local path for each stored file and none for a missing
    one; any other storage has a local path for no file."""
    storage = backend.open()
    backend.put(storage, "job_1/1/output-0.png", b"png bytes")
    path = storage.local_path("job_1/1/output-0.png")
    if storage.served_by_genq:
        assert path is not None
        assert path.read_bytes() == b"png bytes"
    else:
        assert path is None
    assert storage.local_path("job_1/1/missing.png") is None


def test_read_returns_the_first_bytes_or_none(backend: Backend) -> None:
    """read gives a stored file's bytes up to the limit, and None for a missing key."""
    storage = backend.open()
    backend.put(storage, "job_1/1/output-0.txt", b"hello world", "text/plain")
    assert storage.read("job_1/1/output-0.txt", 100) == b"hello world"
    assert storage.read("job_1/1/output-0.txt", 5) == b"hello"
    assert storage.read("job_1/1/missing.txt", 100) is None


def test_delete_keys_removes_only_those(backend: Backend) -> None:
    """delete_keys removes the keys named, skips missing ones, and leaves the rest."""
    storage = backend.open()
    for key in ["job_1/1/output-0.png", "job_1/1/output-1.png", "job_2/1/output-0.png"]:
        backend.put(storage, key)
    storage.delete_keys(["job_1/1/output-0.png", "job_1/1/missing.png", "job_3/1/output-0.png"])
    storage.delete_keys([])
    assert backend.keys(storage) == {"job_1/1/output-1.png", "job_2/1/output-0.png"}


def test_delete_job_removes_every_attempt_and_only_that_job(backend: Backend) -> None:
    """delete_job removes all of a job's attempts, not a job whose id it begins; twice is fine."""
    storage = backend.open()
    for key in ["job_1/1/output-0.png", "job_1/2/output-0.png", "job_1/2/output-1.png"]:
        backend.put(storage, key)
    backend.put(storage, "job_10/1/output-0.png")
    backend.put(storage, "job_2/1/output-0.png")
    storage.delete_job("job_1")
    storage.delete_job("job_1")
    storage.delete_job("job_never")
    assert backend.keys(storage) == {"job_10/1/output-0.png", "job_2/1/output-0.png"}


@pytest.mark.parametrize("job_id", ["", ".", "..", "job_1/1"])
def test_delete_job_refuses_what_is_not_a_job_id(backend: Backend, job_id: str) -> None:
    """An id that would name the whole storage, or part of one job, is refused."""
    storage = backend.open()
    backend.put(storage, "job_1/1/output-0.png")
    with pytest.raises(ValueError, match="not a job id"):
        storage.delete_job(job_id)
    assert backend.keys(storage) == {"job_1/1/output-0.png"}


def test_prefixes_keep_storages_apart(backend: Backend) -> None:
    """Two storages with different prefixes do not see each other's files or deletes."""
    first, second = backend.open("tenant/a"), backend.open("tenant/b")
    for storage in (first, second):
        backend.put(storage, "job_1/1/output-0.png")
        backend.put(storage, "job_2/1/output-0.png")
    first.delete_job("job_1")
    second.delete_keys(["job_2/1/output-0.png"])
    assert backend.keys(first) == {"job_2/1/output-0.png"}
    assert backend.keys(second) == {"job_1/1/output-0.png"}


def test_links_never_expire_sooner_than_asked(backend: Backend) -> None:
    """A link expires at the asked time rounded up to the second (within a second's tick)."""
    storage = backend.open()
    backend.put(storage, "job_1/1/output-0.png")
    for ttl in (0.2, 59.5, 3600):
        expires_at = time.time() + ttl
        expiry = backend.link_expiry(storage.link("job_1/1/output-0.png", expires_at, BASE_URL))
        assert math.ceil(expires_at) <= expiry <= math.ceil(expires_at) + 1


@pytest.mark.parametrize(
    "url", ["", "/tmp/files", "file://", "s3://", "s3:///prefix", "gs://bucket", "S3://bucket"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    """A URL that names no storage is refused, naming the forms that work."""
    with pytest.raises(ConfigError, match=r"file://PATH or s3://BUCKET\[/PREFIX\]"):
        open_storage(url, b"secret")
