"""``genq run``: submit a job, show its progress, save its outputs and print their paths."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from genq.cli.app import app, fail
from genq.cli.connection import Key, MaxRetries, Url, connect, reported_errors
from genq.cli.files import OutputDir, print_files, save_outputs, writable_folder
from genq.cli.progress import INTERRUPTED, ProgressView, finish, follow
from genq.client import JobHandle, JobStatus
from genq.client._files import MAX_FILE_BYTES, file_input


@app.command()
def run(
    model: str = typer.Argument(..., help="The model, by its name or an alias."),
    inputs: list[str] = typer.Option(
        None,
        "--input",
        "-i",
        metavar="KEY=VALUE",
        help="One input field (repeatable). VALUE is read as JSON when it parses (numbers, "
        "true, lists, ...), else as text; @PATH sends the file at PATH (an image, a sound: "
        f"at most {MAX_FILE_BYTES // (1024 * 1024)} MiB) as a data: URI. A text that starts "
        "with @ goes in JSON quotes: 'KEY=\"@...\"'.",
    ),
    input_file: str = typer.Option(
        None,
        "--json",
        metavar="FILE",
        help="The whole input as a JSON object, from FILE or - (stdin); --input fields "
        "override it.",
    ),
    output_dir: Path = OutputDir,
    print_job: bool = typer.Option(
        False,
        "--print-json",
        help="Print the finished job's JSON, with the saved files' paths under \"files\", "
        "instead of the progress and the paths.",
    ),
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Run a model: submit a job, show its progress, save its outputs and print their paths.

    A job that fails exits 1 with its error. Ctrl-C asks whether to cancel the job or leave it
    running (exit 130)."""
    data = parse_input(inputs or [], input_file)
    writable_folder(output_dir)
    with connect(url, key, max_retries) as client:
        handle = client.submit(model, data)
        try:
            job = handle.job or handle.status()
            if not print_job:
                typer.echo(f"submitted {job.id} ({job.model})", err=True)
            with ProgressView(job, quiet=print_job) as view:
                job = follow(handle, view)
        except KeyboardInterrupt:
            raise offer_cancel(handle) from None
        files = save_outputs(client, job, output_dir) if job.status is JobStatus.SUCCEEDED else []
    print_files(job, files, print_job)
    finish(job)


def parse_input(pairs: list[str], source: str | None) -> dict[str, Any]:
    """The job input: the JSON object in ``source`` (a file, or ``-`` for stdin), then each
    ``KEY=VALUE`` pair over it, VALUE read as JSON when it parses and as text otherwise, and
    ``KEY=@PATH`` as the file at PATH, a ``data:`` URI."""
    data: dict[str, Any] = {}
    if source is not None:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot read {source}: {exc.strerror}") from None
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise fail(f"{'stdin' if source == '-' else source} is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise fail("the --json input must be a JSON object")
        data.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise fail(f"--input takes KEY=VALUE, not {pair!r}")
        if raw.startswith("@"):
            data[key] = file_value(raw[1:])
            continue
        try:
            data[key] = json.loads(raw)
        except json.JSONDecodeError:
            data[key] = raw
    return data


def file_value(path: str) -> str:
    """The file at ``path`` as a ``data:`` URI, its type told from its bytes; one line and exit
    2 when it cannot be read or is larger than a server takes."""
    if not path:
        raise fail("--input KEY=@PATH needs the file's path after the @")
    try:
        # The shell leaves a ~ after KEY=@ as it is: expanded here, as the user meant it.
        return file_input(os.path.expanduser(path))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None


def offer_cancel(handle: JobHandle) -> typer.Exit:
    """After Ctrl-C: ask (on stderr, the answer read from stdin) whether to cancel the job or
    leave it running, and say how to follow it. The exit is for the caller to raise."""
    typer.echo(
        f"\ninterrupted: {handle.id} has not finished. "
        "Type c to cancel it, or Enter to leave it running: ",
        err=True,
        nl=False,
    )
    try:
        answer = sys.stdin.readline()
    except (KeyboardInterrupt, EOFError, OSError, ValueError):
        answer = ""
    if not answer.endswith("\n") or not sys.stdin.isatty():
        # A terminal echoes the answer and its Enter; a pipe or an EOF leaves the line open.
        typer.echo(err=True)
    if answer.strip().lower() in ("c", "cancel"):
        with reported_errors():
            job = handle.cancel()
        done = "canceled" if job.status.terminal else "canceling (it stops at its next step)"
        typer.echo(f"{handle.id}: {done}", err=True)
    else:
        typer.echo(
            f"{handle.id} keeps running; follow it with: genq jobs watch {handle.id}",
            err=True,
        )
    return typer.Exit(INTERRUPTED)
