"""``genq status``: whether a genq server is ready, and what it serves, as an exit status a
script or a service manager can act on: 0 ready, 1 not ready, 2 unreachable."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import typer

from genq.cli.app import app
from genq.cli.connection import Key, Url
from genq.cli.render import AsJson, file_size, print_json
from genq.client import Client, GenqError, _config

READY, NOT_READY, UNREACHABLE = 0, 1, 2
#: How many of the caller's queued and running jobs ``status`` counts, at most.
COUNTED_JOBS = 1000
TIMEOUT = 10.0


@app.command()
def status(
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
) -> None:
    """Is the server ready (its store, storage and workers answer: /readyz)? Its workers, the
    models it serves, queued jobs per model (every account's, with an admin key) and your
    queued and running jobs. Exits 0 when ready, 1 when not, 2 when the server cannot be
    reached."""
    base_url = _config.base_url(url)
    try:
        answer = httpx.get(f"{base_url}/readyz", timeout=TIMEOUT)
        readiness = answer.json()
        if answer.status_code not in (200, 503) or not isinstance(readiness, dict):
            raise ValueError(f"/readyz answered {answer.status_code}")
    except (httpx.HTTPError, ValueError) as exc:
        typer.echo(f"genq at {base_url}: unreachable ({exc})", err=True)
        raise typer.Exit(UNREACHABLE) from None
    ready = readiness.get("status") == "ready"
    report: dict[str, Any] = {"url": base_url, "ready": ready, "readiness": readiness}
    report.update(served(url, key))
    if as_json:
        print_json(report)
    else:
        print_report(report)
    raise typer.Exit(READY if ready else NOT_READY)


def served(url: str | None, key: str | None) -> dict[str, Any]:
    """The models the server offers, the queues (for an admin key) and the caller's queued
    and running jobs per model (with a key); what kept them from being read otherwise."""
    try:
        with Client(url, key, max_retries=0, timeout=TIMEOUT) as client:
            models = client.models.list()
            queued = Counter(job.model for job in client.jobs.list("queued", limit=COUNTED_JOBS))
            running = Counter(job.model for job in client.jobs.list("running", limit=COUNTED_JOBS))
            queues = all_queues(client.base_url, client.api_key)
    except GenqError as exc:
        return {"details_error": str(exc)}
    return {
        "models": [
            {"name": m.name, "available": m.available, "reason": m.unavailable_reason}
            for m in models
        ],
        "queues": queues,
        "your_jobs": {
            name: {"queued": queued[name], "running": running[name]}
            for name in sorted({m.name for m in models} | set(queued) | set(running))
            if queued[name] or running[name]
        },
    }


def all_queues(base_url: str, key: str) -> list[dict[str, Any]] | None:
    """Every account's queued jobs per model, for an admin key (/v1/admin/queue); None for
    another key."""
    try:
        answer = httpx.get(
            f"{base_url}/v1/admin/queue",
            headers={"Authorization": f"Bearer {key}"},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def print_report(report: dict[str, Any]) -> None:
    readiness = report["readiness"]
    state = "ready" if report["ready"] else "NOT READY"
    typer.echo(f"genq at {report['url']}: {state}")
    for name, check in readiness.get("checks", {}).items():
        if name == "workers":
            found = f"{check.get('alive', 0)} alive, {check.get('ready', 0)} ready, "
            found += f"{check.get('busy', 0)} busy"
        else:
            found = f"{1000 * check.get('seconds', 0):.0f} ms"
        outcome = "ok" if check.get("ok") else f"FAILED: {check.get('error')}"
        typer.echo(f"  {name:<9} {outcome} ({found}){disk_space(check)}")
    if "details_error" in report:
        typer.echo(f"models and jobs: not read ({report['details_error']})")
        return
    available = [m["name"] for m in report["models"] if m["available"]]
    missing = [m["name"] for m in report["models"] if not m["available"]]
    typer.echo(f"models served: {', '.join(available) or 'none'}")
    if missing:
        typer.echo(f"models that cannot run here: {', '.join(missing)}")
    queues = report["queues"]
    if queues is None:
        typer.echo("queues: an admin key shows every account's queued jobs")
    elif not queues:
        typer.echo("queues: empty")
    else:
        typer.echo("queues (every account):")
        for queue in queues:
            since = queue["oldest_queued_at"]
            typer.echo(f"  {queue['model']}: {queue['queued']} queued, oldest since {since}")
    jobs = report["your_jobs"]
    if not jobs:
        typer.echo("your jobs: none queued or running")
        return
    typer.echo("your jobs (queued / running):")
    for name, counts in jobs.items():
        typer.echo(f"  {name}: {counts['queued']} / {counts['running']}")


def disk_space(check: dict[str, Any]) -> str:
    """``; disk: 41.2 GB free``, and whether new jobs are refused for want of it."""
    free = check.get("disk_free_bytes")
    if not isinstance(free, int):
        return ""
    said = f"; disk: {file_size(free)} free"
    if check.get("disk_full"):
        said += f", under {file_size(check.get('disk_min_free_bytes') or 0)}: NEW JOBS REFUSED"
    return said
