"""Where the client finds its server and its API key, and how often it retries."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import httpx

from genq.client._errors import AuthenticationError

DEFAULT_URL = "http://127.0.0.1:8000"
#: Per request; waits for a job are bounded by their own ``timeout`` instead.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 5


def base_url(given: str | None) -> str:
    """The argument, else ``GENQ_URL``, else the address ``genq serve`` listens on."""
    return (given or os.environ.get("GENQ_URL") or DEFAULT_URL).rstrip("/")


def max_retries(given: int | None) -> int:
    """The argument, else ``GENQ_MAX_RETRIES``, else 5."""
    if given is not None:
        return given
    value = os.environ.get("GENQ_MAX_RETRIES", "").strip()
    if not value:
        return DEFAULT_MAX_RETRIES
    try:
        retries = int(value)
    except ValueError:
        retries = -1
    if retries < 0:
        raise ValueError(f"GENQ_MAX_RETRIES must be a whole number ≥ 0, not {value!r}")
    return retries


def key_file() -> Path:
    """The key ``genq serve`` writes on first start: in ``GENQ_DATA_DIR`` or ``~/.genq``."""
    data_dir = os.environ.get("GENQ_DATA_DIR")
    return (Path(data_dir) if data_dir else Path.home() / ".genq") / "api-key"


def api_key(given: str | None) -> str:
    """The argument, else ``GENQ_API_KEY``, else the key file of a local ``genq serve``."""
    key = given or os.environ.get("GENQ_API_KEY")
    if key:
        return key
    path = key_file()
    try:
        key = path.read_text().strip()
    except OSError:
        key = ""
    if key:
        return key
    raise AuthenticationError(
        "no API key: pass api_key=..., set GENQ_API_KEY, or run the client where `genq serve` "
        f"keeps its data (looked for the key file {path}, which "
        f"{'is empty' if path.is_file() else 'does not exist'})",
        status_code=401,
        code="missing_api_key",
    )


def user_agent() -> str:
    try:
        version = metadata.version("genq")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"genq-python/{version}"
