"""``genq jobs list|show|watch|cancel|retry|delete|download``: follow and manage jobs on a genq
server."""

from __future__ import annotations

from pathlib import Path

import typer

from genq.cli.app import app, fail
from genq.cli.connection import Key, MaxRetries, Url, connect
from genq.cli.files import OutputDir, print_files, save_outputs, writable_folder
from genq.cli.progress import INTERRUPTED, ProgressView, finish, follow
from genq.cli.render import (
    SHOWN_TEXT_BYTES,
    AsJson,
    job_state,
    job_view,
    jobs_table,
    print_json,
    print_result,
    stdout_console,
)
from genq.client import Client, Job, JobStatus
from genq.client._base import text_output

jobs_app = typer.Typer(help="Follow and manage jobs on a genq server.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

JobId = typer.Argument(..., help="The job's id.")


@jobs_app.command("list")
def jobs_list(
    status: JobStatus = typer.Option(None, "--status", help="Only jobs with this status."),
    model: str = typer.Option(None, "--model", help="Only jobs of this model."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many jobs."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """List your jobs, newest first."""
    with connect(url, key, max_retries) as client:
        jobs = list(client.jobs.list(status=status, model=model, limit=limit))
    if as_json:
        print_json([job.raw for job in jobs])
    elif jobs:
        stdout_console().print(jobs_table(jobs))
    else:
        typer.echo("no jobs", err=True)


@jobs_app.command("show")
def jobs_show(
    job_id: str = JobId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Show a job: status, progress, error, cost, times, input and outputs, and the content of
    its first text output (a transcript, a caption; its first 64 KiB)."""
    with connect(url, key, max_retries) as client:
        job = client.get(job_id)
        text = None if as_json else first_text(client, job)
    show_job(job, as_json, text)


def first_text(client: Client, job: Job) -> tuple[int, str] | None:
    """The index and content (its first ``SHOWN_TEXT_BYTES``) of the job's first
    ``text/plain`` output; None without one."""
    index = text_output(job, None)
    if index is None:
        return None
    text = client.output_text(job, index, max_bytes=SHOWN_TEXT_BYTES)
    return None if text is None else (index, text)


def show_job(job: Job, as_json: bool, text: tuple[int, str] | None = None) -> None:
    print_result(job.raw, as_json, lambda: job_view(job, text))


@jobs_app.command("watch")
def jobs_watch(
    job_id: str = JobId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Follow a job with a progress bar until it ends, then show it. Exits 1 unless it
    succeeded; Ctrl-C stops watching and leaves the job running."""
    with connect(url, key, max_retries) as client:
        handle = client.job(job_id)
        job = handle.status()
        try:
            with ProgressView(job, quiet=as_json) as view:
                job = follow(handle, view)
        except KeyboardInterrupt:
            typer.echo(f"\nstopped watching; {job_id} keeps running", err=True)
            raise typer.Exit(INTERRUPTED) from None
        text = None if as_json else first_text(client, job)
    show_job(job, as_json, text)
    finish(job)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str = JobId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Cancel a job: a queued one at once, a running one at its next step."""
    with connect(url, key, max_retries) as client:
        job = client.jobs.cancel(job_id)
    if as_json:
        print_json(job.raw)
    else:
        typer.echo(f"{job.id}: {job_state(job)}")


@jobs_app.command("retry")
def jobs_retry(
    job_id: str = JobId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Run a failed, canceled or expired job again, as a new job (charged as one); prints the
    new job's id. Follow it with genq jobs watch."""
    with connect(url, key, max_retries) as client:
        job = client.jobs.retry(job_id).job
    assert job is not None
    if as_json:
        print_json(job.raw)
    else:
        typer.echo(f"{job.id}: {job_state(job)} (retry of {job_id})")


@jobs_app.command("delete")
def jobs_delete(
    job_id: str = JobId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Delete a job and its files (stopping it first if it runs)."""
    with connect(url, key, max_retries) as client:
        client.jobs.delete(job_id)
    if as_json:
        print_json({"id": job_id, "deleted": True})
    else:
        typer.echo(f"deleted {job_id}")


@jobs_app.command("download")
def jobs_download(
    job_id: str = JobId,
    output_dir: Path = OutputDir,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Save a succeeded job's outputs (their checksums verified) and print their paths."""
    with connect(url, key, max_retries) as client:
        job = client.get(job_id)
        if not job.status.terminal:
            raise fail(f"{job.id} is {job.status.value}: wait for it with genq jobs watch", 1)
        finish(job)
        files = save_outputs(client, job, writable_folder(output_dir))
    print_files(job, files, as_json)
