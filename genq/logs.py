"""genq's log: plain text lines or one JSON object per line (``--log-format json``, or
``GENQ_LOG_FORMAT``), at ``GENQ_LOG_LEVEL``, in the API process and in every worker process.

A JSON line has ``time``, ``level``, ``logger`` and ``message``, and, where they apply, the
``request_id`` of the HTTP request being answered, the ``account`` of its caller, and the
``job_id`` and ``model`` a worker is running (several jobs of one model call: their ids,
comma-separated). Those come from context variables: the HTTP front sets the request's, the
worker sets the job's while it runs it.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from contextvars import ContextVar
from typing import Any, Literal

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
FORMAT_VARIABLE = "GENQ_LOG_FORMAT"
LEVEL_VARIABLE = "GENQ_LOG_LEVEL"

request_id: ContextVar[str | None] = ContextVar("genq_request_id", default=None)
account: ContextVar[str | None] = ContextVar("genq_account", default=None)
job_id: ContextVar[str | None] = ContextVar("genq_job_id", default=None)
model: ContextVar[str | None] = ContextVar("genq_model", default=None)

#: The context a JSON line carries, by its name in the line.
CONTEXT: tuple[tuple[str, ContextVar[str | None]], ...] = (
    ("request_id", request_id),
    ("account", account),
    ("job_id", job_id),
    ("model", model),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; ``extra`` fields (``worker``) are added."""

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        super().__init__()
        self.extra = extra or {}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self.extra,
        }
        for name, var in CONTEXT:
            value = var.get()
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


def log_format(given: str | None = None) -> LogFormat:
    """The format asked for: ``given``, else ``GENQ_LOG_FORMAT``, else text."""
    chosen = (given or os.environ.get(FORMAT_VARIABLE) or "text").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"unknown log format {chosen!r}: use one of {', '.join(FORMATS)}")
    return chosen


def setup(fmt: LogFormat, *, worker: str | None = None) -> None:
    """Send genq's log (and the libraries' warnings) to stderr in ``fmt``, at
    ``GENQ_LOG_LEVEL`` (default WARNING); ``worker``: the worker process's id, on each line."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter({"worker": worker} if worker else None))
    else:
        who = f" {worker}" if worker else ""
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s{who} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(os.environ.get(LEVEL_VARIABLE, "WARNING").upper())
    # Python warnings become log records, in the same format, not bare lines on stderr.
    logging.captureWarnings(True)
    quiet_libraries()


#: Warnings the model libraries give on every load or job, about their own internals, that
#: nobody running genq can act on: (category, message pattern, module pattern).
LIBRARY_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    # torchvision's image backend falls back to PIL when its C extension cannot load.
    (UserWarning, r".*(image|video).*(extension|backend)", r"torchvision(\..*)?"),
    (UserWarning, r"Failed to load image Python extension", r"torchvision(\..*)?"),
    (FutureWarning, r".*", r"(transformers|diffusers|huggingface_hub)(\..*)?"),
    (DeprecationWarning, r".*", r"(transformers|diffusers|huggingface_hub|torch)(\..*)?"),
)


def quiet_libraries() -> None:
    """Keep the model libraries' progress bars and deprecation notes out of genq's log.

    Through their own switches (their loggers at ERROR, their tqdm bars off) and warning
    filters scoped to their modules; set before they are imported, read when they are.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for category, message, module in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name in ("transformers", "diffusers", "huggingface_hub", "torchvision"):
        logging.getLogger(name).setLevel(logging.ERROR)


def quiet_loaded_libraries() -> None:
    """Once a model library is imported: its own verbosity and progress-bar switches (the
    environment variables only count if set before its first import)."""
    import sys

    hub = sys.modules.get("huggingface_hub")
    if hub is not None:
        hub.utils.disable_progress_bars()
    for name in ("diffusers", "transformers"):
        module = sys.modules.get(name)
        if module is None:
            continue
        utils = getattr(module, "utils", None)
        library_logging = getattr(utils, "logging", None)
        if library_logging is not None:
            library_logging.set_verbosity_error()
            library_logging.disable_progress_bar()
