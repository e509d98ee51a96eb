"""What only the S3 storage does: object keys, content types, presigned links, start-up checks."""

from __future__ import annotations

import hashlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from genq.errors import ConfigError
from genq.storage import open_storage
from genq.storage import s3 as s3_module
from genq.storage.s3 import MAX_LINK_SECONDS, S3Storage
from tests.s3server import S3Server, free_port, presigned_expiry, s3_server  # noqa: F401


@pytest.fixture
def server(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:  # noqa: F811
    s3_server.patch_env(monkeypatch)
    return s3_server


@pytest.fixture
def bucket(server: S3Server) -> str:
    return server.create_bucket()


def put(storage: S3Storage, tmp_path: Path, key: str, data: bytes = b"x", **kwargs: str) -> None:
    source = tmp_path / "source"
    source.write_bytes(data)
    storage.put(key, source, **kwargs)


def object_keys(server: S3Server, bucket: str) -> set[str]:
    listing = server.client().list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


@pytest.mark.parametrize(
    ("url_path", "object_key"),
    [
        ("", "job_1/1/output-0.png"),
        ("/", "job_1/1/output-0.png"),
        ("/tenant", "tenant/job_1/1/output-0.png"),
        ("/tenant/a/", "tenant/a/job_1/1/output-0.png"),
    ],
)
def test_object_keys_are_prefix_slash_key(
    server: S3Server, bucket: str, tmp_path: Path, url_path: str, object_key: str
) -> None:
    """Objects are stored as PREFIX/KEY, with no leading slash when there is no prefix."""
    storage = open_storage(f"s3://{bucket}{url_path}", b"secret")
    assert isinstance(storage, S3Storage)
    put(storage, tmp_path, "job_1/1/output-0.png")
    assert object_keys(server, bucket) == {object_key}


def test_content_type_is_kept(server: S3Server, bucket: str, tmp_path: Path) -> None:
    """The object keeps the content type it was stored with."""
    storage = S3Storage(bucket)
    put(storage, tmp_path, "job_1/1/output-0.wav", content_type="audio/wav")
    head = server.client().head_object(Bucket=bucket, Key="job_1/1/output-0.wav")
    assert head["ContentType"] == "audio/wav"


def test_large_files_go_up_in_parts(server: S3Server, bucket: str, tmp_path: Path) -> None:
    """A file over the multipart threshold arrives whole, with its content type."""
    data = bytes(range(256)) * (9 * 4096)
    storage = S3Storage(bucket)
    put(storage, tmp_path, "job_1/1/output-0.mp4", data, content_type="video/mp4")
    response = httpx.get(storage.link("job_1/1/output-0.mp4", time.time() + 60, ""))
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()
    head = server.client().head_object(Bucket=bucket, Key="job_1/1/output-0.mp4")
    assert "-" in head["ETag"]  # a multipart upload's ETag counts its parts


def test_deletes_go_in_batches(
    server: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More objects than one DeleteObjects request takes are all deleted, listing page by page."""
    monkeypatch.setattr(s3_module, "DELETE_BATCH_SIZE", 2)
    storage = S3Storage(bucket, "p")
    keys = [f"job_{j}/{a}/output-0.png" for j in (1, 2) for a in range(1, 6)]
    for key in keys:
        put(storage, tmp_path, key)
    storage.delete_job("job_1")
    assert object_keys(server, bucket) == {f"p/{k}" for k in keys if k.startswith("job_2/")}
    storage.delete_keys(keys)
    assert object_keys(server, bucket) == set()


def test_threads_share_one_storage(server: S3Server, bucket: str, tmp_path: Path) -> None:
    """Puts, links and deletes from many threads at once through one storage all succeed."""
    storage = S3Storage(bucket)

    def work(n: int) -> None:
        source = tmp_path / f"source-{n}"
        source.write_bytes(str(n).encode())
        storage.put(f"job_{n}/1/output-0.txt", source, "text/plain")
        assert httpx.get(storage.link(f"job_{n}/1/output-0.txt", time.time() + 60, "")).content
        storage.delete_job(f"job_{n}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(32)))
    assert object_keys(server, bucket) == set()


def test_links_are_presigned_and_clamped(server: S3Server, bucket: str) -> None:
    """Links are SigV4 presigned GETs on the bucket, living 1 s to 7 days; base_url is unused."""
    storage = S3Storage(bucket)
    url = storage.link("job_1/1/output-0.png", time.time() + 60, "http://genq.test")
    assert url.startswith(f"{server.endpoint_url}/{bucket}/job_1/1/output-0.png?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    for expires_at, seconds in [
        (time.time() + 30 * 24 * 3600, MAX_LINK_SECONDS),
        (time.time() - 3600, 1),
    ]:
        url = storage.link("job_1/1/output-0.png", expires_at, "")
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(seconds)]
    url = storage.link("job_1/1/output-0.png", time.time() + 30 * 24 * 3600, "")
    assert abs(presigned_expiry(url) - (time.time() + MAX_LINK_SECONDS)) <= 2


def test_a_missing_bucket_is_a_config_error(server: S3Server) -> None:
    """Opening a bucket that does not exist fails at once, naming the bucket and endpoint."""
    with pytest.raises(ConfigError, match="no-such-bucket") as raised:
        open_storage("s3://no-such-bucket/prefix", b"secret")
    assert server.endpoint_url in raised.value.message


def test_an_unreachable_endpoint_is_a_config_error(
    server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a bucket on an endpoint where nothing listens fails, naming the endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ConfigError, match="'results'") as raised:
        S3Storage("results")
    assert endpoint in raised.value.message


def test_missing_credentials_are_a_config_error(
    server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without credentials in boto3's configuration, opening the bucket fails at once."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match="credentials"):
        S3Storage(bucket)


def test_without_boto3_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without boto3 installed, an s3:// URL says which extra to install."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match=r"pip install 'genq\[s3\]'"):
        open_storage("s3://results", b"secret")
