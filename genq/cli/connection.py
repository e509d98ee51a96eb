"""How the client commands reach a genq server: the ``--url``, ``--key`` and ``--max-retries``
options, and a client whose errors become the command's (``error: MESSAGE (CODE)`` on stderr,
exit status 1).

They talk to it over HTTP through :class:`genq.client.Client`, so they work with the base
install alone: nothing here imports the server's modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import typer
from rich.console import Console

from genq.cli.app import fail
from genq.client import APIError, Client, GenqError, TransportError
from genq.client._retry import RetryPolicy

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
