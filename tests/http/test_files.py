"""Result files: signed expiring links, range requests, retention."""

from __future__ import annotations

import shutil
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.conftest import GenqServer, wait_for, wait_until
from tests.http.test_jobs import submit
from tests.s3server import presigned_expiry

TEXT = "0123456789" * 100


def finished_output(api: httpx.Client) -> tuple[dict, str]:
    job = wait_for(api, submit(api, {"output_text": TEXT})["id"])
    return job, job["outputs"][0]["url"]


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return parts._replace(query=urlencode(query)).geturl()


def test_signed_link_serves_the_file_with_its_checksum(api: httpx.Client) -> None:
    """The output link serves the bytes, whose size and sha256 match the job's record."""
    import hashlib

    job, url = finished_output(api)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert hashlib.sha256(response.content).hexdigest() == job["outputs"][0]["sha256"]
    assert len(response.content) == job["outputs"][0]["size"] == 1000


def test_range_requests(api: httpx.Client) -> None:
    """A Range request answers 206 with just those bytes."""
    _, url = finished_output(api)
    response = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == TEXT[10:20].encode()
    assert response.headers["content-range"] == "bytes 10-19/1000"


@pytest.mark.backends("sqlite")
def test_tampered_links_are_403(api: httpx.Client) -> None:
    """A link with a changed signature, expiry or path, or none, answers 403."""
    _, url = finished_output(api)
    query = parse_qs(urlsplit(url).query)
    signature, expires = query["signature"][0], query["expires"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    for bad in [
        with_query(url, signature=flipped),
        with_query(url, expires=str(int(expires) + 1000)),
        url.replace("output-0", "output-1"),
        url.split("?")[0],
    ]:
        response = httpx.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.backends("sqlite")
def test_expired_links_are_403(make_server) -> None:
    """A link past its expiry answers 403 link_expired; a fresh read of the job gives a new one."""
    server: GenqServer = make_server(link_ttl_seconds=1)
    with server.client() as api:
        job, url = finished_output(api)
        assert httpx.get(url).status_code == 200
        time.sleep(2.5)
        response = httpx.get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "link_expired"
        fresh = api.get(f"/v1/jobs/{job['id']}").json()["outputs"][0]["url"]
        assert httpx.get(fresh).status_code == 200


@pytest.mark.backends("postgres")
def test_object_storage_links_are_presigned_for_the_link_ttl(make_server) -> None:
    """With S3 storage, output links are the bucket's own presigned URLs, valid for
    link_ttl_seconds (the test server does not enforce expiry, so the link's own parameters
    are checked), and the authenticated download redirects to one."""
    server: GenqServer = make_server(link_ttl_seconds=120)
    s3 = server.backend.s3
    assert s3 is not None
    with server.client() as api:
        before = time.time()
        job, url = finished_output(api)
        assert url.startswith(s3.endpoint_url)
        assert "X-Amz-Signature=" in url
        assert before + 119 <= presigned_expiry(url) <= time.time() + 122
        assert httpx.get(url).text == TEXT
        redirect = api.get(f"/v1/jobs/{job['id']}/outputs/0", follow_redirects=False)
        assert redirect.status_code == 307
        assert redirect.headers["location"].startswith(s3.endpoint_url)
        assert api.get(f"/v1/jobs/{job['id']}/outputs/0").text == TEXT


# On PostgreSQL and S3: the store's expiry (a running job asked to stop, the others removed)
# is checked on both engines by tests/store/test_store_contract.py, and the removal of a
# job's files from a bucket by tests/storage/test_storage_contract.py.
@pytest.mark.backends("sqlite")
@pytest.mark.slow
def test_retention_removes_finished_and_running_jobs_and_their_files(make_server) -> None:
    """After the retention period a finished job and its links answer 404 and its bytes are
    gone; a job still running then is stopped (killed after the grace period, as it ignores
    the request) and removed too, and its worker is free again."""
    # Long enough for the job to finish and its file to be seen on a busy machine.
    server: GenqServer = make_server(
        workers=2, retention_seconds=6, link_ttl_seconds=3600, cancel_grace_seconds=1
    )
    workers = set(server.worker_pids())
    with server.client() as api:
        running = submit(api, {"sleep_ms": 60_000, "ignore_cancel": True, "output_text": "x"})
        job, url = finished_output(api)
        assert server.stored_files(job["id"]) == [f"{job['id']}/1/output-0.txt"]
        for job_id in (job["id"], running["id"]):
            wait_until(lambda i=job_id: api.get(f"/v1/jobs/{i}").status_code == 404, timeout=30)
        assert api.get("/v1/jobs").json()["data"] == []
        wait_until(lambda: not server.stored_files(job["id"]), timeout=10)
        assert httpx.get(url).status_code == 404
        assert server.stored_files(running["id"]) == []

        def replaced() -> bool:
            now = set(server.worker_pids())
            return len(now) == 2 and len(now - workers) == 1

        # The job's worker was killed (a 404 alone only says the job expired).
        wait_until(replaced, timeout=30)
        quick = [submit(api, {"sleep_ms": 300}) for _ in range(2)]
        for done in quick:
            assert wait_for(api, done["id"], timeout=30)["status"] == "succeeded"


def break_storage(server: GenqServer) -> None:
    """Make every later store of a file fail: the local folder becomes a plain file, or the
    bucket is removed."""
    storage = server.settings.get("storage")
    if storage is None:
        folder = server.data_dir / "files"
        shutil.rmtree(folder)
        folder.write_text("not a folder")
        return
    assert server.backend.s3 is not None
    bucket = storage.removeprefix("s3://").split("/", 1)[0]
    client = server.backend.s3.client()
    for stored in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=stored["Key"])
    client.delete_bucket(Bucket=bucket)


def test_an_output_that_cannot_be_stored_fails_the_job_with_storage_error(make_server) -> None:
    """A job whose output the storage refuses fails with error code storage_error, keeps no
    outputs and is not charged."""
    server: GenqServer = make_server(workers=1)
    with server.client() as api:
        # A first job: the worker has opened its storage before it breaks.
        assert wait_for(api, submit(api, {"output_text": "kept"})["id"])["status"] == "succeeded"
        break_storage(server)
        job = wait_for(api, submit(api, {"output_text": "nowhere to go"})["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "storage_error"
    assert job["outputs"] == []
    assert job["cost"]["actual"] == 0


def download_routes(api: httpx.Client) -> list[tuple[Any, str]]:
    """A finished output's two download routes, each with what may call it: the signed link
    (``httpx.request``, no key) and the authenticated ``/v1/jobs/{id}/outputs/0``."""
    job, url = finished_output(api)
    return [(httpx.request, url), (api.request, f"/v1/jobs/{job['id']}/outputs/0")]


@pytest.mark.backends("postgres")
def test_head_on_an_object_storage_output_answers_from_the_record(api: httpx.Client) -> None:
    """With S3 storage, HEAD on /v1/jobs/{id}/outputs/n answers the output's length and type
    itself: the GET's redirect goes to a link presigned for GET alone, which a HEAD fails."""
    job, _ = finished_output(api)
    response = api.head(f"/v1/jobs/{job['id']}/outputs/0", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-length"] == "1000"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["accept-ranges"] == "bytes"
    assert api.get(f"/v1/jobs/{job['id']}/outputs/0", follow_redirects=False).status_code == 307


@pytest.mark.backends("sqlite")
def test_head_on_file_links_answers_the_headers_without_a_body(api: httpx.Client) -> None:
    """HEAD on both download routes answers 200 with the file's length, type and
    Accept-Ranges, and no body; with a Range, 206 with that part's length."""
    for request, url in download_routes(api):
        response = request("HEAD", url)
        assert response.status_code == 200, url
        assert response.headers["content-length"] == "1000"
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["accept-ranges"] == "bytes"
        assert response.content == b""
        part = request("HEAD", url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206, url
        assert part.headers["content-length"] == "10"
        assert part.headers["content-range"] == "bytes 10-19/1000"
        assert part.content == b""


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=5-1",
        "bytes=",
        "bytes=-",
        "bytes=1-2-3",
        "items=0-5",
        "0-5",
        "bytes=1e3-",
        # Numbers too long to be a position in any file (Python will not even read them).
        "bytes=" + "1" * 4301 + "-",
        "bytes=-" + "9" * 5000,
        "bytes=0-" + "9" * 19,
    ],
    ids=lambda header: header[:20],
)
def test_a_malformed_range_is_ignored(api: httpx.Client, header: str) -> None:
    """A syntactically invalid Range header is ignored, as RFC 9110 section 14.2 allows: the
    whole file is served with 200 (it used to be a plain-text 400)."""
    for request, url in download_routes(api):
        response = request("GET", url, headers={"Range": header})
        assert response.status_code == 200, (url, response.text)
        assert response.content == TEXT.encode()
        assert "content-range" not in response.headers


@pytest.mark.backends("sqlite")
def test_an_unsatisfiable_range_is_416_in_genqs_error_shape(api: httpx.Client) -> None:
    """A range that starts past the end of the file answers 416 with the file's length in
    Content-Range and genq's JSON error body (it used to be an empty plain-text answer)."""
    for request, url in download_routes(api):
        response = request("GET", url, headers={"Range": "bytes=1000-2000"})
        assert response.status_code == 416, url
        assert response.headers["content-range"] == "bytes */1000"
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "range_not_satisfiable"


@pytest.mark.backends("sqlite")
def test_suffix_open_and_several_ranges(api: httpx.Client) -> None:
    """The last N bytes, an open-ended range, one running past the end (clipped) and
    several ranges (multipart) are each served as RFC 9110 says."""
    for request, url in download_routes(api):
        suffix = request("GET", url, headers={"Range": "bytes=-10"})
        assert suffix.status_code == 206
        assert suffix.content == TEXT[-10:].encode()
        assert suffix.headers["content-range"] == "bytes 990-999/1000"
        tail = request("GET", url, headers={"Range": "bytes=995-"})
        assert tail.content == TEXT[995:].encode()
        clipped = request("GET", url, headers={"Range": "bytes=990-5000"})
        assert clipped.headers["content-range"] == "bytes 990-999/1000"
        stale = request("GET", url, headers={"Range": "bytes=2000-", "If-Range": '"stale"'})
        assert (stale.status_code, stale.content) == (200, TEXT.encode())
        several = request("GET", url, headers={"Range": "bytes=0-1, 5-6"})
        assert several.status_code == 206
        assert several.headers["content-type"].startswith("multipart/byteranges")
        assert b"Content-Range: bytes 5-6/1000" in several.content
