"""The client commands: ``run``, ``jobs ...`` and ``models list|show``.

They talk to a genq server over HTTP through :class:`genq.client.Client`, so they work with
the base install alone: nothing here imports the server's modules. Each prints tables or text
by default and the server's JSON with ``--json``; an API error prints ``error: MESSAGE (CODE)``
on stderr and exits 1. Progress and notes go to stderr, results (tables, file paths,
JSON) to stdout.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from genq.cli.app import app, fail, models_app
from genq.client import (
    APIError,
    Client,
    GenqError,
    Job,
    JobHandle,
    JobStatus,
    ModelInfo,
    Output,
    TransportError,
)
from genq.client import Progress as JobProgress
from genq.client._retry import RetryPolicy
from genq.credits import credits_text, parse_credits

jobs_app = typer.Typer(help="Follow and manage jobs on a genq server.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

Url = typer.Option(
    None, "--url", envvar="GENQ_URL", help="The genq server (default: http://127.0.0.1:8000)."
)
Key = typer.Option(
    None,
    "--key",
    envvar="GENQ_API_KEY",
    help="An API key (default: the key file `genq serve` writes, GENQ_DATA_DIR/api-key or "
    "~/.genq/api-key).",
)
MaxRetries = typer.Option(
    None,
    "--max-retries",
    envvar="GENQ_MAX_RETRIES",
    min=0,
    help="Retries of a request that could not get through or was answered 429, 502, 503 or "
    "504, before giving up (default 5, about 12 s with the server down).",
)
AsJson = typer.Option(False, "--json", help="Print the server's JSON, for scripts.")
OutputDir = typer.Option(
    Path("."), "--output-dir", "-o", file_okay=False, help="Where to save the outputs."
)

#: The exit status of a command stopped with Ctrl-C, as shells report one ended by SIGINT.
INTERRUPTED = 130
#: How often a queued job is read again, to show its place in the queue.
QUEUE_POLL_SECONDS = 0.5
#: Width of tables written to a file or a pipe, where rich would otherwise assume 80.
PIPE_WIDTH = 160


# -- talking to the server -----------------------------------------------------------------
@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the client's errors into ``error: MESSAGE (CODE)`` on stderr and exit status 1."""
    try:
        yield
    except APIError as exc:
        message = exc.message
        if exc.code == "missing_api_key":
            # The client's message names its own argument; here the option stands for it.
            message = message.replace("pass api_key=...", "pass --key")
        raise fail(f"{message} ({exc.code})", 1) from None
    except GenqError as exc:
        raise fail(str(exc), 1) from None


@dataclass(frozen=True)
class NotedRetry(RetryPolicy):
    """The client's retry policy, also telling ``on_refused`` of each connection to
    ``host`` that could not be made. (A policy, not a transport: a transport given to httpx
    turns off its proxy settings from the environment.)"""

    host: str = ""
    on_refused: Callable[[httpx.ConnectError], None] = lambda error: None

    def after_error(self, attempt: int, error: httpx.RequestError) -> float:
        if isinstance(error, httpx.ConnectError) and refused_host(error) == self.host:
            self.on_refused(error)
        return super().after_error(attempt, error)


def refused_host(error: httpx.RequestError) -> str | None:
    try:
        return error.request.url.host
    except RuntimeError:  # raised before httpx attached the request
        return None


def reason(error: httpx.ConnectError) -> str:
    """``Connection refused``: the error's words, without ``[Errno 111]``."""
    return re.sub(r"^\[Errno -?\d+\] ", "", str(error)) or type(error).__name__


@contextmanager
def connect(url: str | None, key: str | None, max_retries: int | None) -> Iterator[Client]:
    """A client of the server at ``url`` (or GENQ_URL, or the local default), its errors
    reported as the command's. A server that cannot be reached is one line, ``error: cannot
    reach genq at URL``, once the retries are spent; on a terminal a note says so at the
    first refusal too, rather than leaving the user to wait for the retries in silence."""
    noted = not Console(stderr=True).is_terminal

    def on_refused(error: httpx.ConnectError) -> None:
        nonlocal noted
        retries = client.retry.max_retries
        if noted or not retries:
            return
        noted = True
        typer.echo(
            f"cannot reach genq at {client.base_url}: {reason(error)}; retrying "
            f"(--max-retries {retries}; Ctrl-C to stop)",
            err=True,
        )

    with reported_errors(), Client(url, key, max_retries=max_retries) as client:
        host = httpx.URL(client.base_url).host
        client.retry = NotedRetry(client.retry.max_retries, host=host, on_refused=on_refused)
        try:
            yield client
        except TransportError as exc:
            # Another host (an object store's link) speaks for itself.
            if not isinstance(exc.__cause__, httpx.ConnectError) or (
                refused_host(exc.__cause__) != host
            ):
                raise
            attempts = client.retry.max_retries + 1
            raise fail(
                f"cannot reach genq at {client.base_url}: {reason(exc.__cause__)} "
                f"({attempts} attempt{'s' if attempts > 1 else ''})",
                1,
            ) from None


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


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def stdout_console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def parse_input(pairs: list[str], source: str | None) -> dict[str, Any]:
    """The job input: the JSON object in ``source`` (a file, or ``-`` for stdin), then each
    ``KEY=VALUE`` pair over it, VALUE read as JSON when it parses and as text otherwise."""
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
        try:
            data[key] = json.loads(raw)
        except json.JSONDecodeError:
            data[key] = raw
    return data


def field_type(prop: dict[str, Any]) -> str:
    """A schema property's type in a few words: ``integer``, ``array of string``, ``string |
    null``."""
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array of {field_type(prop['items'])}"
    if kind is not None:
        return str(kind)
    for combinator in ("anyOf", "oneOf"):
        if isinstance(prop.get(combinator), list):
            return " | ".join(field_type(p) for p in prop[combinator] if isinstance(p, dict))
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return "enum"
    return "any"


def _range(low: Any, high: Any, unit: str = "") -> str | None:
    if low is None and high is None:
        return None
    if low is None:
        return f"{unit}≤ {high}"
    if high is None:
        return f"{unit}≥ {low}"
    return f"{unit}{low} to {high}"


def field_limits(prop: dict[str, Any]) -> str:
    """A schema property's choices and bounds: ``png, jpeg``, ``1 to 8``, ``length ≤ 2000``."""
    parts: list[str] = []
    if isinstance(prop.get("enum"), list):
        parts.append(", ".join(v if isinstance(v, str) else json.dumps(v) for v in prop["enum"]))
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    for text in (
        _range(low, high),
        _range(prop.get("minLength"), prop.get("maxLength"), "length "),
        _range(prop.get("minItems"), prop.get("maxItems"), "items "),
    ):
        if text is not None:
            parts.append(text)
    if "exclusiveMinimum" in prop or "exclusiveMaximum" in prop:
        parts.append("(exclusive)")
    if "pattern" in prop:
        parts.append(f"pattern {prop['pattern']}")
    if "format" in prop:
        parts.append(f"format {prop['format']}")
    return "; ".join(parts)


def schema_table(schema: dict[str, Any]) -> Table:
    """A model's input schema as a table: one row per field."""
    table = Table("field", "type", "required", "default", "limits / choices", "description")
    required = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        table.add_row(
            Text(name, style="bold"),
            Text(field_type(prop)),
            Text("yes" if name in required else ""),
            Text(json.dumps(prop["default"]) if "default" in prop else ""),
            Text(field_limits(prop)),
            Text(str(prop.get("description") or prop.get("title") or "")),
        )
    return table


# -- rendering -----------------------------------------------------------------------------
def local_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def file_size(size: int) -> str:
    """``412 B``, ``412.3 kB``, ``1.2 MB``: decimal units, as file managers show them."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if round(value, 1) < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def job_state(job: Job) -> str:
    """The status in words, with the queue position or the reason a queued job waits."""
    if job.status is JobStatus.QUEUED:
        return queued_text(job.queue_position, job.status_message)
    text = job.status.value
    if job.cancel_requested and not job.status.terminal:
        text += " (cancel requested)"
    return text


def queued_text(position: int | None, message: str | None = None) -> str:
    text = "queued"
    if position is not None:
        text += " (next)" if position == 0 else f" ({position} ahead)"
    return f"{text}: {message}" if message else text


def progress_text(progress: JobProgress) -> str:
    text = f"{progress.step}/{progress.total}" if progress.total else ""
    if progress.message:
        text = f"{text} {progress.message}".strip()
    return text


def amount_text(value: float) -> str:
    """An amount of credits from the API as the decimal its JSON number reads (``0.00001``,
    not ``1e-05``; every digit, not six)."""
    return credits_text(parse_credits(value))


def cost_text(job: Job) -> str:
    parts = []
    if job.cost_estimate is not None:
        parts.append(f"estimate {amount_text(job.cost_estimate)}")
    if job.cost_actual is not None:
        parts.append(f"actual {amount_text(job.cost_actual)}")
    return ", ".join(parts)


def output_details(output: Output) -> str:
    parts = []
    if output.width is not None and output.height is not None:
        parts.append(f"{output.width}x{output.height}")
    if output.duration is not None:
        parts.append(f"{output.duration:g} s")
    return ", ".join(parts)


def jobs_table(jobs: list[Job]) -> Table:
    table = Table("id", "model", "status", "progress", "outputs", "created")
    table.columns[0].no_wrap = True
    for job in jobs:
        table.add_row(
            Text(job.id),
            Text(job.model),
            Text(job_state(job)),
            Text(progress_text(job.progress)),
            Text(str(len(job.outputs)) if job.outputs else ""),
            Text(local_time(job.created_at)),
        )
    return table


def job_view(job: Job) -> RenderableType:
    """One job: its fields, then a table of its outputs."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    model = job.model
    if job.origin is not None:
        model += f" (as {job.origin.model!r} through {job.origin.api})"
    rows: list[tuple[str, str]] = [
        ("id", job.id),
        ("model", model),
        ("status", job_state(job)),
        ("progress", progress_text(job.progress)),
        ("error", "" if job.error is None else f"{job.error.message} ({job.error.code})"),
        ("cost", cost_text(job)),
        ("created", local_time(job.created_at)),
        ("started", local_time(job.started_at)),
        ("finished", local_time(job.finished_at)),
        ("expires", local_time(job.expires_at)),
        ("input", json.dumps(job.input, ensure_ascii=False)),
        ("metadata", json.dumps(job.metadata, ensure_ascii=False) if job.metadata else ""),
    ]
    for name, value in rows:
        if value:
            fields.add_row(name, Text(value))
    if not job.outputs:
        return fields
    outputs = Table("#", "type", "size", "details", "sha256", title="outputs", title_justify="left")
    for index, output in enumerate(job.outputs):
        outputs.add_row(
            str(index),
            Text(output.content_type),
            file_size(output.size),
            output_details(output),
            Text(output.sha256[:16] + "…"),
        )
    return Group(fields, Text(""), outputs)


def price_text(price: dict[str, Any]) -> str:
    """A model's price in words: ``0.001 per job + 0.01 per output``."""
    units = {"per_job": "per job", "per_output": "per output", "per_second": "per second"}
    parts = [f"{amount_text(value)} {units.get(key, key)}" for key, value in price.items() if value]
    return " + ".join(parts) or "free"


def models_table(models: list[ModelInfo]) -> Table:
    table = Table("name", "modality", "available", "price", "aliases", "description")
    table.columns[0].no_wrap = True
    for model in models:
        table.add_row(
            Text(model.name),
            Text(model.modality),
            "yes" if model.available else "no",
            Text(price_text(model.price)),
            Text(", ".join(model.aliases)),
            Text(model.description),
        )
    return table


def model_view(model: ModelInfo) -> RenderableType:
    """One model: what it is, then its input fields."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    available = "yes" if model.available else f"no: {model.unavailable_reason or 'unknown'}"
    for name, value in (
        ("name", model.name),
        ("description", model.description),
        ("modality", model.modality),
        ("price", price_text(model.price)),
        ("available", available),
        ("aliases", ", ".join(model.aliases)),
    ):
        if value:
            fields.add_row(name, Text(value))
    return Group(fields, Text(""), schema_table(model.input_schema))


# -- following a job -----------------------------------------------------------------------
class ElapsedColumn(ProgressColumn):
    """Time since the job was created (by this machine's clock)."""

    def __init__(self, since: float) -> None:
        super().__init__()
        self.since = since

    def render(self, task: Task) -> Text:
        return Text(elapsed_text(time.monotonic() - self.since), style="progress.elapsed")


def elapsed_text(seconds: float) -> str:
    minutes, seconds = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class ProgressView:
    """A job's status, step / total and elapsed time on stderr. On a terminal: a live progress
    bar. Elsewhere (a log file, a pipe): a line for each change of status, and progress lines
    at most every ``LINE_INTERVAL`` seconds. ``quiet``: nothing at all."""

    LINE_INTERVAL = 2.0

    def __init__(self, job: Job, *, quiet: bool = False) -> None:
        self.job_id = job.id
        self.console = Console(stderr=True, highlight=False)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        age = 0.0 if job.created_at is None else time.time() - job.created_at.timestamp()
        self.since = time.monotonic() - max(0.0, age)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[figures]}"),
            ElapsedColumn(self.since),
            console=self.console,
        )
        self.task = self.progress.add_task("", total=None, figures="")
        self.state = job_state(job)
        self.step, self.total = job.progress.step, job.progress.total
        self.printed: tuple[str, str] | None = None
        self.printed_at = 0.0

    def __enter__(self) -> ProgressView:
        if self.live:
            self.progress.start()
        self.refresh()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live:
            self.progress.stop()
        elif not self.quiet and self.printed != (self.state, self.figures):
            self.print_line()

    @property
    def figures(self) -> str:
        return f"{self.step}/{self.total}" if self.total else ""

    def show_job(self, job: Job) -> None:
        self.state = job_state(job)
        self.show_progress(job.progress)

    def show_progress(self, progress: JobProgress) -> None:
        self.step, self.total = progress.step, progress.total
        if progress.step and self.state.startswith("queued"):
            # Progress comes from a running job (its status is only polled while queued).
            self.state = JobStatus.RUNNING.value
        self.refresh()

    def refresh(self) -> None:
        if self.live:
            self.progress.update(
                self.task,
                description=self.state,
                completed=self.step,
                total=self.total or None,
                figures=self.figures,
            )
        elif not self.quiet:
            printed_state, printed_figures = self.printed or ("", "")
            due = time.monotonic() - self.printed_at >= self.LINE_INTERVAL
            if self.state != printed_state or (self.figures != printed_figures and due):
                self.print_line()

    def print_line(self) -> None:
        parts = [self.job_id, self.state, self.figures, elapsed_text(time.monotonic() - self.since)]
        self.console.print(Text("  ".join(part for part in parts if part)))
        self.printed = (self.state, self.figures)
        self.printed_at = time.monotonic()


def follow(handle: JobHandle, view: ProgressView) -> Job:
    """Wait for the job to end. While it is queued its place in the queue is read every
    ``QUEUE_POLL_SECONDS`` (the event stream does not carry it); then its events show its
    progress until the end."""
    job = handle.job or handle.status()
    while job.status is JobStatus.QUEUED:
        view.show_job(job)
        time.sleep(QUEUE_POLL_SECONDS)
        job = handle.status()
    view.show_job(job)
    if not job.status.terminal:
        job = handle.wait(on_progress=view.show_progress)
        view.show_job(job)
    return job


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


def finish(job: Job) -> None:
    """Exit 1, with the job's error on stderr, unless the job succeeded."""
    if job.status is JobStatus.SUCCEEDED:
        return
    if job.error is not None:
        raise fail(f"{job.id} {job.status.value}: {job.error.message} ({job.error.code})", 1)
    raise fail(f"{job.id} {job.status.value}", 1)


# -- commands ------------------------------------------------------------------------------
@app.command()
def run(
    model: str = typer.Argument(..., help="The model, by its name or an alias."),
    inputs: list[str] = typer.Option(
        None,
        "--input",
        "-i",
        metavar="KEY=VALUE",
        help="One input field (repeatable). VALUE is read as JSON when it parses (numbers, "
        "true, lists, ...), else as text.",
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
    job_id: str = typer.Argument(..., help="The job's id."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Show a job: status, progress, error, cost, times, input and outputs."""
    with connect(url, key, max_retries) as client:
        job = client.get(job_id)
    show_job(job, as_json)


def show_job(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(job.raw)
    else:
        stdout_console().print(job_view(job))


@jobs_app.command("watch")
def jobs_watch(
    job_id: str = typer.Argument(..., help="The job's id."),
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
    show_job(job, as_json)
    finish(job)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str = typer.Argument(..., help="The job's id."),
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


@jobs_app.command("delete")
def jobs_delete(
    job_id: str = typer.Argument(..., help="The job's id."),
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
    job_id: str = typer.Argument(..., help="The job's id."),
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


def print_files(job: Job, files: list[Path], as_json: bool) -> None:
    """The saved files' paths, or the job's JSON with a ``files`` list of them."""
    if as_json:
        print_json({**job.raw, "files": [str(path) for path in files]})
        return
    for path in files:
        typer.echo(str(path))
    if job.status is JobStatus.SUCCEEDED and not files:
        typer.echo(f"{job.id} succeeded with no output files", err=True)


@models_app.command("list")
def models_list(
    as_json: bool = AsJson, url: str = Url, key: str = Key, max_retries: int | None = MaxRetries
) -> None:
    """List the models the server offers."""
    with connect(url, key, max_retries) as client:
        models = client.models.list()
    if as_json:
        print_json([model.raw for model in models])
    else:
        stdout_console().print(models_table(models))


@models_app.command("show")
def models_show(
    name: str = typer.Argument(..., help="The model, by its name or an alias."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Show a model: description, price, aliases and a table of its input fields."""
    with connect(url, key, max_retries) as client:
        model = client.models.get(name)
    if as_json:
        print_json(model.raw)
    else:
        stdout_console().print(model_view(model))
