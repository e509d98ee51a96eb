"""The worker's handling of models, in process with a real SQLite store and file storage:
batches after out-of-memory errors, the memory budget, and an API that never imports torch."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from genq.jobs import JobRecord
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import JobStore, open_store
from genq.worker.loaded import LoadedModels
from genq.worker.runner import Worker
from tests.plugins import Hungry, Sated

MODELS: dict[str, dict[str, Any]] = {
    "hungry": {"entrypoint": "tests.plugins:Hungry", "max_batch": 4, "batch_wait_ms": 0},
    "sated": {"entrypoint": "tests.plugins:Sated"},
}


@pytest.fixture
def parts(tmp_path: Path) -> Any:
    settings = Settings(data_dir=tmp_path, models=MODELS, model_memory_gb=1000 / 1024**3)
    store = open_store(settings.db_url)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    registry = ModelRegistry(settings.models)
    service = JobService(settings, store, storage, registry, LocalNotifier())
    account = store.ensure_account("tester", None, time.time())
    yield settings, store, service, account.id
    store.close()


def submit_all(service: JobService, account: str, model: str, count: int) -> list[str]:
    async def go() -> list[str]:
        return [(await service.submit(account, model, {}))[0].id for _ in range(count)]

    return asyncio.run(go())


def jobs(store: JobStore, ids: list[str]) -> list[JobRecord]:
    found = [store.get_job_any_account(job_id, time.time()) for job_id in ids]
    assert all(job is not None for job in found)
    return [job for job in found if job is not None]


def test_repeated_out_of_memory_halves_the_models_batches(parts: Any) -> None:
    """A batch that runs out of memory fails its jobs (and nothing else); twice in a row and
    the worker halves that model's batch size, after which the jobs run."""
    settings, store, service, account = parts
    worker = Worker(settings, "w-test", store=store)
    for round_ in range(2):
        ids = submit_all(service, account, "hungry", 4)
        assert worker.run(burst=True) == 4
        failed = jobs(store, ids)
        assert {job.status for job in failed} == {"failed"}, f"round {round_}"
        assert {job.error.code for job in failed if job.error} == {"out_of_memory"}
    assert worker.batch_limit(worker.registry.get("hungry")) == 2
    ids = submit_all(service, account, "hungry", 4)
    assert worker.run(burst=True) == 4
    assert {job.status for job in jobs(store, ids)} == {"succeeded"}


def test_the_worker_keeps_models_within_its_memory_budget(parts: Any) -> None:
    """Two models of 600 bytes under a 1000-byte budget: loading one unloads the other, the
    least recently used; using a loaded model loads nothing."""
    settings, _, _, _ = parts
    registry = ModelRegistry(settings.models)
    loaded = LoadedModels(1000)
    Hungry.setups = Hungry.teardowns = Sated.setups = Sated.teardowns = 0
    hungry, sated = registry.get("hungry"), registry.get("sated")
    loaded.use(hungry)
    loaded.use(hungry)
    assert (Hungry.setups, loaded.names()) == (1, ["hungry"])
    loaded.use(sated)
    assert loaded.names() == ["sated"]
    assert Hungry.teardowns == 1
    roomy = LoadedModels(2000)
    roomy.use(hungry)
    roomy.use(sated)
    roomy.use(hungry)
    assert roomy.names() == ["sated", "hungry"]
    roomy.close()
    assert roomy.names() == []


def test_the_api_process_never_imports_torch(tmp_path: Path) -> None:
    """genq serve with the demo models, and even with a diffusers model configured, builds its
    app without importing torch, diffusers or transformers (workers import them on load)."""
    code = f"""
import sys
from genq.server import build_app
from genq.settings import Settings
models = {{"sd": {{"runtime": "diffusers", "source": "/nowhere", "task": "text-to-image"}},
          "llm": {{"runtime": "transformers", "source": "/nowhere"}}}}
build_app(Settings(data_dir={str(tmp_path)!r}, models=models))
heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
print(heavy)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
