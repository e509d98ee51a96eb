"""``/readyz``'s answer, as the OpenAPI document describes it (``genq.service.readiness``
does the checking)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ReadinessCheck(BaseModel):
    """One check: whether it passed, how long it took, and what failed."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    seconds: float = Field(description="How long the check took.")
    error: str | None = Field(
        default=None,
        description="What failed, when it failed: a kind of error, or 'no answer in 2 s' "
        "(the server's log has the whole message).",
    )
    alive: int | None = Field(default=None, description="workers: processes alive.")
    ready: int | None = Field(default=None, description="workers: processes that spoke.")
    busy: int | None = Field(default=None, description="workers: processes running a job.")
    disk_free_bytes: int | None = Field(
        default=None,
        description="storage: free bytes on the disk new jobs' outputs go to (the fullest "
        "of those watched).",
    )
    disk_min_free_bytes: int | None = Field(
        default=None,
        description="storage: the free bytes under which new jobs are refused with 503 "
        "storage_full (0: never); the process stays ready.",
    )
    disk_full: bool | None = Field(
        default=None, description="storage: whether new jobs are refused for want of disk."
    )


class ReadinessAnswer(BaseModel):
    """Every check of the API process, run at most once a second (a probe within a second of
    the last gets the same answer)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ready", "not_ready"]
    checked_at: float = Field(description="When the checks ran (Unix time).")
    checks: dict[str, ReadinessCheck] = Field(
        description="store: it answers a query; storage: it takes a small write and its "
        "removal; workers (only where this process runs workers): at least one is alive."
    )


READINESS_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": ReadinessAnswer, "description": "Ready: every check passed."},
    503: {"model": ReadinessAnswer, "description": "Not ready: the checks that failed say why."},
}
