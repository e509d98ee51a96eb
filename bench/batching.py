"""Benchmark of a diffusers model at saturation: ``python bench/batching.py``.

One worker, in this process, with a real SQLite store and file storage, runs a queue of
text-to-image jobs (all submitted before it starts: saturation) of a random-weight Stable
Diffusion pipeline built by ``genq models make-tiny``, with batching off (``max_batch`` 1,
the baseline) and with ``max_batch`` 2, 4 and 8, side by side in one run. Per setting:

- throughput: jobs per second from the worker's first claim to its last finish;
- latency: a job's run time (claimed to finished) p50/p95, and submit to finished p50/p95;
- busy fraction: time inside the pipeline call / wall time of the run. The rest is what the
  worker spends around the model (claims, progress events, encoding and storing images,
  recording the end);
- gain: throughput over the batching-off baseline.

On a GPU machine use the full-size pipeline: ``--kind sd15 --size 512 --steps 20``
(``--device cuda``, float16 by default there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.runtimes.diffusion import DiffusersModel
from genq.service import JobService
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import open_store
from genq.testing.tiny import make_tiny
from genq.worker.runner import Worker

TARGET_BUSY = 0.97


@dataclass
class Result:
    max_batch: int
    jobs: int
    wall: float
    busy: float
    run_p50: float
    run_p95: float
    total_p50: float
    total_p95: float

    @property
    def rate(self) -> float:
        return self.jobs / self.wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace, source: Path, max_batch: int, root: Path) -> Result:
    data_dir = root / f"batch-{max_batch}"
    model = {
        "runtime": "diffusers",
        "source": str(source),
        "task": "text-to-image",
        "device": args.device,
        "dtype": args.dtype,
        "max_batch": max_batch,
        "batch_wait_ms": 5,
    }
    settings = Settings(data_dir=data_dir, models={"sd": model})
    store = open_store(settings.db_url)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    registry = ModelRegistry(settings.models)
    service = JobService(settings, store, storage, registry, LocalNotifier())
    account = store.ensure_account("bench", None, time.time())
    worker = Worker(settings, f"bench-{max_batch}", store=store, storage=storage, registry=registry)
    registered = registry.get("sd")
    worker.loaded.use(registered)
    assert isinstance(registered.model, DiffusersModel)
    pipeline = registered.model

    async def submit_all() -> list[str]:
        ids = []
        for i in range(args.warmup + args.jobs):
            job, _ = await service.submit(
                account.id,
                "sd",
                {
                    "prompt": f"a picture number {i}",
                    "seed": i,
                    "steps": args.steps,
                    "width": args.size,
                    "height": args.size,
                },
            )
            ids.append(job.id)
        return ids

    ids = asyncio.run(submit_all())
    # Warm-up jobs (first kernels, allocator) run before the clock starts.
    for claim in store.claim(worker.worker_id, ["sd"], time.time(), 60, limit=args.warmup):
        worker.run_job(claim)
    pipeline.busy_seconds = 0.0
    worker.run(burst=True)
    busy = pipeline.busy_seconds
    done = [store.get_job_any_account(job_id, time.time()) for job_id in ids[args.warmup :]]
    assert all(job is not None and job.status == "succeeded" for job in done), "a job failed"
    # The worker's first claim to its last finish (not its own start and exit).
    wall = max(job.finished_at or 0 for job in done if job) - min(
        job.started_at or 0 for job in done if job
    )
    runs = [(job.finished_at or 0) - (job.started_at or 0) for job in done if job]
    totals = [(job.finished_at or 0) - job.created_at for job in done if job]
    store.close()
    return Result(
        max_batch,
        len(done),
        wall,
        busy / wall,
        percentile(runs, 0.5),
        percentile(runs, 0.95),
        percentile(totals, 0.5),
        percentile(totals, 0.95),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="sd", choices=["sd", "sd15"])
    parser.add_argument("--models", type=Path, help="folder with built pipelines (reused)")
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="genq-bench-") as tmp:
        root = Path(tmp)
        models = args.models or root / "models"
        source = models / args.kind
        if not source.is_dir():
            print(f"building the random-weight {args.kind} pipeline in {models} ...")
            make_tiny(models, [args.kind])
        import torch

        print(
            f"{args.kind} at {args.size}x{args.size}, {args.steps} steps, {args.jobs} jobs per "
            f"setting, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
            f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}"
        )
        results = [run(args, source, int(b), root) for b in args.batches.split(",")]
    base = results[0].rate
    print(
        f"{'max_batch':>9} {'jobs/s':>8} {'gain':>6} {'busy':>7} {'run p50':>9} {'run p95':>9}"
        f" {'total p50':>10} {'total p95':>10}"
    )
    for r in results:
        print(
            f"{r.max_batch:>9} {r.rate:>8.2f} {r.rate / base:>5.2f}x {r.busy:>7.1%}"
            f" {r.run_p50 * 1000:>7.0f}ms {r.run_p95 * 1000:>7.0f}ms"
            f" {r.total_p50:>9.2f}s {r.total_p95:>9.2f}s"
        )
    worst = min(r.busy for r in results)
    verdict = "met" if worst >= TARGET_BUSY else "missed"
    print(f"busy fraction target >= {TARGET_BUSY:.0%}: {verdict} (lowest {worst:.1%})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
