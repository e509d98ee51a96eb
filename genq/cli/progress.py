"""Following a job to its end: its status, step / total and elapsed time on stderr, and the
command's exit status once it ends."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from genq.cli.app import fail
from genq.cli.render import job_state
from genq.client import Job, JobHandle, JobStatus
from genq.client import Progress as JobProgress

#: The exit status of a command stopped with Ctrl-C, as shells report one ended by SIGINT.
INTERRUPTED = 130
#: How often a queued job is read again, to show its place in the queue.
QUEUE_POLL_SECONDS = 0.5


class ElapsedColumn(ProgressColumn):
    """Time since the job was created (by this machine's clock)."""

    def __init__(self, since: float) -> None:
        super().__init__()
        self.since = since

    def render(self, task: Task) -> Text:
        return Text(elapsed_text(time.monotonic() - self.since), style="progress.elapsed")


class EtaColumn(ProgressColumn):
    """How long the job is expected to take still ("about 12 s left"); nothing when the
    server cannot tell."""

    def __init__(self, view: ProgressView) -> None:
        super().__init__()
        self.view = view

    def render(self, task: Task) -> Text:
        return Text(self.view.eta, style="progress.remaining")


def eta_text(seconds: float | None) -> str:
    """``seconds`` left in words, rounded up: "about 40 s left", "about 3 min left", "about
    2 h left"; "" for None or no time left."""
    if seconds is None or seconds <= 0:
        return ""
    if seconds < 90:
        return f"about {math.ceil(seconds)} s left"
    if seconds < 90 * 60:
        return f"about {math.ceil(seconds / 60)} min left"
    return f"about {math.ceil(seconds / 3600)} h left"


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
            EtaColumn(self),
            ElapsedColumn(self.since),
            console=self.console,
        )
        self.task = self.progress.add_task("", total=None, figures="")
        self.state = job_state(job)
        self.step, self.total = job.progress.step, job.progress.total
        self.eta_seconds, self.eta_read_at = job.eta_seconds, time.monotonic()
        self.printed: tuple[str, str] | None = None
        self.printed_eta = False
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

    @property
    def eta(self) -> str:
        """The job's last read ``eta_seconds``, less the time since it was read."""
        if self.eta_seconds is None:
            return ""
        return eta_text(self.eta_seconds - (time.monotonic() - self.eta_read_at))

    def show_job(self, job: Job) -> None:
        self.state = job_state(job)
        self.eta_seconds, self.eta_read_at = job.eta_seconds, time.monotonic()
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
            # A line when the estimate is first known; later ones carry it as it is then.
            eta_known = bool(self.eta) and not self.printed_eta
            if (
                self.state != printed_state
                or eta_known
                or (self.figures != printed_figures and due)
            ):
                self.print_line()

    def print_line(self) -> None:
        elapsed = elapsed_text(time.monotonic() - self.since)
        eta = self.eta
        parts = [self.job_id, self.state, self.figures, eta, elapsed]
        self.console.print(Text("  ".join(part for part in parts if part)))
        self.printed = (self.state, self.figures)
        self.printed_eta = bool(eta)
        self.printed_at = time.monotonic()


def follow(handle: JobHandle, view: ProgressView) -> Job:
    """Wait for the job to end. While it is queued its place in the queue and its estimate
    are read every ``QUEUE_POLL_SECONDS`` (the event stream does not carry them); then its
    events show its progress until the end, with the last estimate read counting down."""
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


def finish(job: Job) -> None:
    """Exit 1, with the job's error on stderr, unless the job succeeded."""
    if job.status is JobStatus.SUCCEEDED:
        return
    if job.error is not None:
        raise fail(f"{job.id} {job.status.value}: {job.error.message} ({job.error.code})", 1)
    raise fail(f"{job.id} {job.status.value}", 1)
