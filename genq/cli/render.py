"""How the client commands print jobs and models: tables and views on stdout, or the
server's JSON with ``--json``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from genq.cli.schema import schema_table
from genq.client import Job, JobStatus, ModelInfo, Output
from genq.client import Progress as JobProgress
from genq.credits import credits_text, parse_credits

AsJson = typer.Option(False, "--json", help="Print the server's JSON, for scripts.")

#: Width of tables written to a file or a pipe, where rich would otherwise assume 80.
PIPE_WIDTH = 160


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def stdout_console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def print_result(raw: Any, as_json: bool, view: Callable[[], RenderableType]) -> None:
    """``raw``, the server's JSON, with ``--json``; else what ``view`` makes of it."""
    if as_json:
        print_json(raw)
    else:
        stdout_console().print(view())


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


def job_view(job: Job, text: tuple[int, str] | None = None) -> RenderableType:
    """One job: its fields, then a table of its outputs, then ``text``: the index and content
    of one of its text outputs (a transcript, a caption), as far as it was read."""
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
    for name, value in (
        ("next attempt", local_time(job.next_attempt_at) if job.next_attempt_at else None),
        ("retry of", job.retry_of),
        ("retried by", job.retried_by),
    ):
        if value:
            rows.append((name, value))
    fields = fields_grid(rows)
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
    if text is None:
        return Group(fields, Text(""), outputs)
    return Group(fields, Text(""), outputs, Text(""), text_view(job, *text))


#: Most of a text output that ``show`` and ``watch`` print: the rest is a download away.
SHOWN_TEXT_BYTES = 64 * 1024


def text_view(job: Job, index: int, text: str) -> RenderableType:
    """A text output's content (its first ``SHOWN_TEXT_BYTES``, as read) under a heading
    naming it, with a line saying where the rest is when only its start was read."""
    output = job.outputs[index]
    heading = Text(f"output {index} ({output.content_type})", style="bold")
    # Counted in the file's bytes: a text that is not UTF-8 decodes to more or fewer.
    if output.size <= SHOWN_TEXT_BYTES:
        return Group(heading, Text(text))
    rest = Text(
        f"… the first {file_size(SHOWN_TEXT_BYTES)} of {file_size(output.size)}; "
        f"the whole file: genq jobs download {job.id}",
        style="dim",
    )
    return Group(heading, Text(text), rest)


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
    available = "yes" if model.available else f"no: {model.unavailable_reason or 'unknown'}"
    fields = fields_grid(
        [
            ("name", model.name),
            ("description", model.description),
            ("modality", model.modality),
            ("task", model.task or ""),
            ("price", price_text(model.price)),
            ("available", available),
            ("aliases", ", ".join(model.aliases)),
        ]
    )
    return Group(fields, Text(""), schema_table(model.input_schema))


def fields_grid(rows: list[tuple[str, str]]) -> Table:
    """Each name in bold beside its value; the rows without a value left out."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    for name, value in rows:
        if value:
            fields.add_row(name, Text(value))
    return fields
