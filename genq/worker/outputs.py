"""A job's results on their way to the file storage: hashed, stored under the job's
attempt, videos given a thumbnail; and what the job costs for them."""

from __future__ import annotations

import errno
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from genq import pricing
from genq.jobs import Failure, JobRecord, OutputRecord
from genq.media.encode import video_thumbnail
from genq.models.registry import ModelRegistry
from genq.storage import FileStorage

if TYPE_CHECKING:
    from genq.worker.context import JobContext

log = logging.getLogger("genq.worker")

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "text/plain": "txt",
    "application/json": "json",
}


@dataclass
class PendingOutput:
    path: Path
    content_type: str
    width: int | None
    height: int | None
    duration: float | None


def store_output(
    storage: FileStorage, ctx: JobContext, index: int, pending: PendingOutput
) -> OutputRecord:
    """Store one result file of a job's attempt (and a video's thumbnail)."""
    digest = hashlib.sha256()
    with pending.path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    base_type = pending.content_type.split(";")[0].strip()
    extension = EXTENSIONS.get(base_type) or pending.path.suffix.lstrip(".") or "bin"
    key = f"{ctx.job_id}/{ctx.claim.attempt}/output-{index}.{extension}"
    storage.put(key, pending.path, base_type)
    thumbnail = None
    if base_type.startswith("video/"):
        thumbnail = store_thumbnail(storage, ctx, pending.path, f"{key}.thumbnail.jpg")
    return OutputRecord(
        key=key,
        content_type=pending.content_type,
        size=pending.path.stat().st_size,
        sha256=digest.hexdigest(),
        width=pending.width,
        height=pending.height,
        duration=pending.duration,
        thumbnail=thumbnail,
    )


def store_thumbnail(storage: FileStorage, ctx: JobContext, video: Path, key: str) -> str | None:
    """A JPEG of the video's first frame, stored beside it; None if it cannot be made
    (the video itself is still a result)."""
    try:
        path = video_thumbnail(video, ctx.work_dir / f"{video.name}.thumbnail")
        storage.put(key, path, "image/jpeg")
    except Exception as exc:
        log.warning("no thumbnail for %s of job %s: %r", video.name, ctx.job_id, exc)
        return None
    return key


#: What a write meets on a disk with no room left: no space, or the disk quota spent.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def storage_failure(exc: Exception) -> Failure:
    """Why a job whose outputs could not be written or stored failed: ``storage_error``,
    saying so plainly when a disk was full (and naming none of the server's paths)."""
    if is_disk_full(exc):
        return Failure(
            "storage_error",
            "the job's outputs could not be written: no space left on the server's disk",
        )
    return Failure("storage_error", str(exc) or type(exc).__name__)


def stored_keys(outputs: list[OutputRecord]) -> list[str]:
    """Every file the outputs keep in the storage: each output and its thumbnail."""
    return [key for o in outputs for key in (o.key, o.thumbnail) if key is not None]


def actual_cost(
    registry: ModelRegistry, model: str, job: JobRecord, outputs: list[OutputRecord]
) -> Decimal:
    """What the job costs for the outputs it made, at the price its caller was quoted."""
    origin = job.origin
    price = registry.price_for(model, origin.model if origin else None)
    return pricing.cost(price, outputs)
