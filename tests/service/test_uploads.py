"""Uploads in the service: kept per account in the file storage, read back as data: URIs,
bounded, and their folders removed once the hour they expire in is over."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genq.errors import Missing, PayloadTooLarge, TooManyRequests
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.service.uploads import HOUR, Upload
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import open_store

HOURS = 3600.0


def new_service(data_dir: Path, **settings: Any) -> JobService:
    config = Settings(data_dir=data_dir, **settings)
    store = open_store(config.db_url)
    storage = open_storage(config.storage_url, config.signing_secret())
    return JobService(config, store, storage, ModelRegistry(config.models), LocalNotifier())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JobService]:
    made = new_service(tmp_path / "data", reference_max_bytes=1000)
    yield made
    made.store.close()


def add(
    service: JobService, source: Path, account: str = "acct", keep: float = HOURS, **limits: int
) -> Upload:
    most = {"most_files": 10, "most_bytes": 10_000, **limits}

    async def adding() -> Upload:
        return await service.add_upload(
            account,
            source,
            name="../secret/a.txt",
            content_type="text/plain; charset=utf-8",
            metadata={"n": 1},
            keep_seconds=keep,
            **most,
        )

    return asyncio.run(adding())


def folders(service: JobService) -> set[str]:
    return {path.name for path in (service.settings.data_dir / "files").iterdir()}


def test_an_upload_reads_back_only_for_its_account(service: JobService, tmp_path: Path) -> None:
    """An upload keeps its bytes, a name without folders and a plain content type; its
    account reads it as a data: URI, another account finds nothing."""
    source = tmp_path / "a.txt"
    source.write_bytes(b"hello")
    upload = add(service, source)
    assert (upload.name, upload.content_type, upload.size) == ("a.txt", "text/plain", 5)
    uris = asyncio.run(service.upload_data_uris("acct", [upload.id]))
    assert uris == {upload.id: "data:text/plain;base64,aGVsbG8="}
    with pytest.raises(Missing):
        asyncio.run(service.upload("other", upload.id))
    with pytest.raises(Missing):
        asyncio.run(service.upload("acct", "not-an-id"))


def test_uploads_are_bounded(service: JobService, tmp_path: Path) -> None:
    """A file over reference_max_bytes is refused, as are uploads past the account's files
    and bytes, and uploads named together past reference_max_bytes."""
    big, small = tmp_path / "big", tmp_path / "small"
    big.write_bytes(b"x" * 1001)
    small.write_bytes(b"x" * 600)
    with pytest.raises(PayloadTooLarge):
        add(service, big)
    first = add(service, small, most_files=2)
    second = add(service, small, most_files=2)
    with pytest.raises(TooManyRequests):
        add(service, small, most_files=2)
    add(service, small, account="bytes", most_bytes=1000)
    with pytest.raises(TooManyRequests):
        add(service, small, account="bytes", most_bytes=1000)
    with pytest.raises(PayloadTooLarge):
        asyncio.run(service.upload_data_uris("acct", [first.id, second.id]))
    asyncio.run(service.delete_upload("acct", first.id))
    assert add(service, small, most_files=2).size == 600


def test_expired_hours_are_removed_and_the_sweep_is_remembered(tmp_path: Path) -> None:
    """An upload is not found past its expiry; the folder of an hour that is over goes at
    the next sweep, the folders of hours to come stay; a new process starts from the hour
    the last sweep reached."""
    service = new_service(tmp_path / "data")
    source = tmp_path / "a.txt"
    source.write_bytes(b"hello")
    hour = math.floor(time.time() / HOUR)
    # This hour's sweep counts as done: the test sweeps by itself, when it says.
    service._upload_sweep["hour"] = hour
    try:
        old = add(service, source, keep=-2 * HOURS)
        new = add(service, source)
        with pytest.raises(Missing):
            asyncio.run(service.upload("acct", old.id))
        old_folder, new_folder = (f"uploads-{int(u.id[:8], 16)}" for u in (old, new))
        assert {old_folder, new_folder} <= folders(service)
        service._sweep_uploads(hour)
        assert old_folder not in folders(service)
        assert new_folder in folders(service)
        assert asyncio.run(service.upload("acct", new.id)) == new
        assert service.storage.read("uploads-swept/hour", 32) == str(hour).encode()
    finally:
        service.store.close()
    # A folder left from an hour before the recorded sweep is not looked for again: this
    # process's first upload sweeps from the hour recorded.
    again = new_service(tmp_path / "data")
    try:
        stray = add(again, source, keep=-3 * HOURS)
        assert f"uploads-{int(stray.id[:8], 16)}" in folders(again)
        again._sweep_uploads(hour + 1)
        assert f"uploads-{int(stray.id[:8], 16)}" in folders(again)
        assert new_folder in folders(again)
        again._sweep_uploads(math.floor((new.expires_at + HOURS) / HOUR))
        assert new_folder not in folders(again)
    finally:
        again.store.close()
