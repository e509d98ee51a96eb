"""Local files as inputs (``pathlib.Path`` values become ``data:`` URIs, their type told from
their bytes) and text outputs read as text (``output_text``), with the sync and async clients
against a real ``genq serve``."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from pathlib import Path

import pytest

import genq
from genq.client._files import MAX_FILE_BYTES, file_input, sniff, with_files
from genq.models.base import DEFAULT_REFERENCE_MAX_BYTES
from tests.client.transports import Recording
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


def decoded(uri: str) -> tuple[str, bytes]:
    """The content type and bytes of a base64 ``data:`` URI."""
    head, _, payload = uri.partition(",")
    assert head.startswith("data:"), head
    assert head.endswith(";base64"), head
    return head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(payload)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(8), "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(8), "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a" + bytes(8), "image/gif"),
        (wav_bytes(), "audio/wav"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + bytes(8), "audio/mpeg"),
        (b"OggS\x00\x02" + bytes(8), "audio/ogg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio/webm"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"hello, plain text", None),
    ],
)
def test_sniff_tells_the_formats_models_read(data: bytes, content_type: str | None) -> None:
    """Images, sounds and MP4 video are told from their first bytes; other bytes are not."""
    assert sniff(data) == content_type


def test_a_file_input_is_its_bytes_with_the_type_they_show(tmp_path: Path) -> None:
    """The type comes from the bytes, whatever the name says; from the name for text."""
    misnamed = tmp_path / "speech.mp3"
    misnamed.write_bytes(wav_bytes())
    assert decoded(file_input(misnamed)) == ("audio/wav", wav_bytes())
    notes = tmp_path / "notes.txt"
    notes.write_text("hi")
    assert decoded(file_input(str(notes))) == ("text/plain", b"hi")
    unknown = tmp_path / "blob"
    unknown.write_bytes(b"\x00\x01")
    assert decoded(file_input(unknown))[0] == "application/octet-stream"


def test_unreadable_and_oversized_files_are_refused(tmp_path: Path) -> None:
    """A missing file or a folder is an OSError; one over the limit a ValueError naming it,
    refused from its size before it is read."""
    with pytest.raises(FileNotFoundError):
        file_input(tmp_path / "missing.wav")
    with pytest.raises(IsADirectoryError):
        file_input(tmp_path)
    big = tmp_path / "big.wav"
    with big.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ValueError, match=r"big\.wav has 20971521 bytes, more than the 20 MiB"):
        file_input(big)
    small = tmp_path / "small.wav"
    small.write_bytes(bytes(11))
    with pytest.raises(ValueError, match="more than the 10 bytes a file input may have"):
        file_input(small, max_bytes=10)


def test_the_client_limit_is_the_servers_default_reference_limit() -> None:
    """The client refuses no file that a server with default settings would take."""
    assert MAX_FILE_BYTES == DEFAULT_REFERENCE_MAX_BYTES


def test_paths_are_replaced_at_any_depth(tmp_path: Path) -> None:
    """Paths inside lists and objects become data URIs; other values stay as they are."""
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    value = with_files({"prompt": "x", "images": [image, "https://a/b.png"], "o": {"i": image}})
    uri = file_input(image)
    assert value == {"prompt": "x", "images": [uri, "https://a/b.png"], "o": {"i": uri}}


def test_a_path_input_reaches_the_model_as_a_data_uri(server: GenqServer, tmp_path: Path) -> None:
    """run() with a Path value sends the file; the job's input holds its data URI, and the
    model (noop, which writes the value as its output) got it whole."""
    notes = tmp_path / "notes.txt"
    notes.write_text("read from a local file")
    with genq.Client(server.url, server.key) as client:
        job = client.run("noop", {"output_text": notes})
        uri = file_input(notes)
        assert job.input["output_text"] == uri
        assert client.output_text(job) == uri


def test_output_text_reads_the_first_plain_text_output(server: GenqServer) -> None:
    """output_text() reads the text output, cut at max_bytes without half a character;
    None for a job without one, IndexError for an output it does not have."""
    with genq.Client(server.url, server.key) as client:
        job = client.run("noop", {"output_text": "héllo wörld"})
        assert client.output_text(job) == "héllo wörld"
        assert client.output_text(job, 0) == "héllo wörld"
        assert client.output_text(job, max_bytes=2) == "h"
        assert client.output_text(job, max_bytes=3) == "hé"
        with pytest.raises(IndexError):
            client.output_text(job, 1)
        bare = client.run("noop", {})
        assert client.output_text(bare) is None


def test_async_client_sends_paths_and_reads_text(server: GenqServer, tmp_path: Path) -> None:
    """The async client does the same."""
    notes = tmp_path / "notes.txt"
    notes.write_text("from the async client")

    async def main() -> tuple[str | None, str | None]:
        async with genq.AsyncClient(server.url, server.key) as client:
            job = await client.run("noop", {"output_text": notes})
            text = await client.run("noop", {"output_text": "plain"})
            return await client.output_text(job), await client.output_text(text, max_bytes=3)

    assert asyncio.run(main()) == (file_input(notes), "pla")


def test_a_missing_file_sends_nothing(server: GenqServer, tmp_path: Path) -> None:
    """A Path that cannot be read fails the submit before any request is made."""
    recording = Recording()
    with (
        genq.Client(server.url, server.key, transport=recording) as client,
        pytest.raises(FileNotFoundError),
    ):
        client.submit("noop", {"output_text": tmp_path / "gone.txt"})
    assert recording.requests == []
