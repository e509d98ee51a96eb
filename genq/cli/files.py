"""Where the client commands put a job's outputs: the ``-o`` folder, checked before a job is
submitted or fetched, the downloads, and the saved files' paths on stdout."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from genq.cli.app import fail
from genq.cli.render import print_json
from genq.client import Client, Job, JobStatus

OutputDir = typer.Option(
    Path("."), "--output-dir", "-o", file_okay=False, help="Where to save the outputs."
)


def writable_folder(path: Path) -> Path:
    """``path``, made with its missing parents if need be (as the download would); exits 1
    with one line when it cannot be made or written to. Checked before a job is submitted or
    fetched, so that its outputs are not lost at the end."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise fail(f"cannot write to {path}: {exc.strerror or exc}", 1) from None
    return path


def save_outputs(client: Client, job: Job, folder: Path) -> list[Path]:
    """Download the job's outputs into ``folder``; a file that cannot be written (a full
    disk) exits 1 with one line saying how to fetch them again."""
    try:
        return client.download(job, folder)
    except OSError as exc:
        raise fail(
            f"cannot save the outputs of {job.id} in {folder}: {exc.strerror or exc}; "
            f"fetch them with: genq jobs download {job.id} -o FOLDER",
            1,
        ) from None


def print_files(job: Job, files: list[Path], as_json: bool) -> None:
    """The saved files' paths, or the job's JSON with a ``files`` list of them."""
    if as_json:
        print_json({**job.raw, "files": [str(path) for path in files]})
        return
    for path in files:
        typer.echo(str(path))
    if job.status is JobStatus.SUCCEEDED and not files:
        typer.echo(f"{job.id} succeeded with no output files", err=True)
