"""Downloading outputs: names, checksums, and expired links."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

import genq
from tests.client.transports import AnswerFirst, Recording, Rewrite, error_answer
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")

IMAGES = {"prompt": "a lighthouse", "width": 64, "height": 64, "num_images": 2}


def is_signed_link(request: httpx.Request) -> bool:
    return "signature=" in str(request.url) or "Signature=" in str(request.url)


@pytest.mark.backends("sqlite", "postgres")
def test_download_writes_each_output_and_verifies_it(server: GenqServer, tmp_path: Path) -> None:
    """download() saves each output as {job_id}-{n}{ext}, bytes matching the recorded sha256,
    fetched through the signed links without the API key."""
    transport = Recording()
    with genq.Client(server.url, server.key, transport=transport) as client:
        job = client.run("demo-image", IMAGES)
        paths = client.download(job, tmp_path / "out")
    assert [p.name for p in paths] == [f"{job.id}-0.png", f"{job.id}-1.png"]
    for path, output in zip(paths, job.outputs, strict=True):
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG")
        assert len(data) == output.size
        assert hashlib.sha256(data).hexdigest() == output.sha256
    links = [r for r in transport.requests if is_signed_link(r)]
    assert len(links) == 2
    assert not any("Authorization" in r.headers for r in links)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]


def test_a_handle_downloads_with_fresh_links(server: GenqServer, tmp_path: Path) -> None:
    """handle.download() reads the job afresh and saves a text output as .txt."""
    with genq.Client(server.url, server.key) as client:
        handle = client.submit("noop", {"output_text": "hello"})
        handle.wait(timeout=60)
        [path] = handle.download(tmp_path)
    assert path == tmp_path / f"{handle.id}-0.txt"
    assert path.read_text() == "hello"


def flip_first_byte(body: bytes) -> bytes:
    return bytes([body[0] ^ 0xFF]) + body[1:]


def test_a_corrupted_download_raises_checksum_mismatch_and_leaves_no_file(
    server: GenqServer, tmp_path: Path
) -> None:
    """Bytes that do not match the recorded sha256 raise ChecksumMismatch; no file is left."""
    transport = Rewrite(flip_first_byte, matches=lambda r: r.url.path.startswith("/files/"))
    with genq.Client(server.url, server.key, transport=transport) as client:
        job = client.run("noop", {"output_text": "precious"})
        with pytest.raises(genq.ChecksumMismatch) as caught:
            client.download(job, tmp_path)
        assert list(tmp_path.iterdir()) == []
        assert caught.value.path == tmp_path / f"{job.id}-0.txt"
        assert caught.value.expected == job.outputs[0].sha256
        assert caught.value.actual != caught.value.expected
        [kept] = client.download(job, tmp_path, verify=False)
    assert kept.read_bytes() != b"precious"


def test_an_expired_link_falls_back_to_the_outputs_route(
    server: GenqServer, tmp_path: Path
) -> None:
    """A signed link answering 403 link_expired is replaced by GET /v1/jobs/{id}/outputs/{n}
    with the API key."""
    transport = AnswerFirst(lambda: error_answer(403, "link_expired"), matches=is_signed_link)
    with genq.Client(server.url, server.key, transport=transport) as client:
        job = client.run("noop", {"output_text": "still here"})
        [path] = client.download(job, tmp_path)
    assert path.read_text() == "still here"
    [fallback] = transport.sent("GET", f"/v1/jobs/{job.id}/outputs/0")
    assert fallback.headers["Authorization"] == f"Bearer {server.key}"


def test_a_job_without_outputs_downloads_nothing(server: GenqServer, tmp_path: Path) -> None:
    """A job with no outputs gives an empty list and writes nothing."""
    with genq.Client(server.url, server.key) as client:
        assert client.download(client.run("noop"), tmp_path / "none") == []
    assert not (tmp_path / "none").exists()
