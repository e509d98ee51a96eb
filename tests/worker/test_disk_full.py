"""A worker on a disk that fills, in process with a real SQLite store, local file storage and
real models: the job fails with ``storage_error`` saying so, and no output, whole or
partial, is left behind."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from genq.jobs import JobRecord, Status
from genq.models.base import Model, RunContext
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.settings import Settings
from genq.storage import FileStorage, open_storage
from genq.storage.local import LocalStorage
from genq.store import JobStore, open_store
from genq.worker.runner import Worker

DISK_FULL_MESSAGE = "the job's outputs could not be written: no space left on the server's disk"


class Filler(Model):
    """Writes its output until the disk is full: half the bytes, then ENOSPC."""

    name = "filler"
    modality = "text"
    input_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        path = ctx.work_dir / "output.txt"
        with path.open("wb") as f:
            f.write(b"x" * 512)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Settings, JobStore, JobService, str]]:
    models = {"filler": {"entrypoint": "tests.worker.test_disk_full:Filler"}}
    settings = Settings(data_dir=tmp_path, models=models)
    store = open_store(settings.db_url)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    service = JobService(settings, store, storage, ModelRegistry(settings.models), LocalNotifier())
    account = store.ensure_account("tester", None, time.time())
    yield settings, store, service, account.id
    store.close()


def run_one(
    parts: Any, model: str, input: dict[str, Any], storage: FileStorage | None = None
) -> JobRecord:
    settings, store, service, account = parts
    job, _ = asyncio.run(service.submit(account, model, input))
    assert Worker(settings, "w-test", store=store, storage=storage).run(burst=True) == 1
    ended = store.get_job_any_account(job.id, time.time())
    assert ended is not None
    return ended


def files_of(settings: Settings, job_id: str) -> list[Path]:
    return [p for p in (settings.data_dir / "files" / job_id).rglob("*") if p.is_file()]


TWO_IMAGES = {"prompt": "a full disk", "num_images": 2, "width": 64}


def full_after_one_copy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make ``shutil.copyfile`` copy one file, then fill the disk halfway through the next;
    returns the targets it was asked for."""
    copy = shutil.copyfile
    copies: list[str] = []

    def copy_until_full(source: Any, target: Any) -> Any:
        copies.append(str(target))
        if len(copies) == 1:
            return copy(source, target)
        data = Path(source).read_bytes()
        Path(target).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    return copies


def test_a_disk_that_fills_while_outputs_are_stored(
    parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two images, the disk full halfway through storing the second: the job fails with
    storage_error, the first image is removed too, and nothing partial is left."""
    settings = parts[0]
    copies = full_after_one_copy(monkeypatch)
    job = run_one(parts, "demo-image", TWO_IMAGES)
    assert len(copies) == 2
    assert job.status is Status.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.message) == ("storage_error", DISK_FULL_MESSAGE)
    assert job.outputs == ()
    assert files_of(settings, job.id) == []


def test_a_model_whose_own_write_fills_the_disk(parts: Any) -> None:
    """A model's write that meets a full disk fails the job with storage_error (not a model
    error, which a retry could mend); its half-written file goes with the job's folder."""
    job = run_one(parts, "filler", {})
    assert job.status is Status.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.message) == ("storage_error", DISK_FULL_MESSAGE)
    assert files_of(parts[0], job.id) == []
    leftovers = list(Path(tempfile.gettempdir()).glob(f"genq-{job.id}-*"))
    assert leftovers == []


class Undeletable(LocalStorage):
    """Local files that cannot be removed (the disk went read-only)."""

    def delete_keys(self, keys: list[str]) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def test_outputs_that_cannot_be_removed_still_end_the_job(
    parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills, and the outputs already stored cannot be removed: the job still ends
    failed with storage_error (its files go when it is deleted), never left running."""
    settings = parts[0]
    storage = Undeletable(settings.data_dir / "files", settings.signing_secret())
    full_after_one_copy(monkeypatch)
    job = run_one(parts, "demo-image", TWO_IMAGES, storage)
    assert job.status is Status.FAILED
    assert job.error is not None
    assert job.error.code == "storage_error"
