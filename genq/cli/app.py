"""The ``genq`` command and what its subcommands share."""

from __future__ import annotations

import os

import typer

app = typer.Typer(
    help="genq: asynchronous inference for generative media models.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys (on the machine that holds the job store).")
app.add_typer(keys_app, name="keys", no_args_is_help=True)
accounts_app = typer.Typer(
    help="Accounts and their credits (on the machine that holds the job store)."
)
app.add_typer(accounts_app, name="accounts", no_args_is_help=True)
models_app = typer.Typer(help="Work with models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
webhooks_app = typer.Typer(
    help="The account's webhook endpoints and the calls made for its jobs.", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


LogFormat = typer.Option(
    None,
    "--log-format",
    help="The log's format: text, or json (one object per line). Env GENQ_LOG_FORMAT.",
)


def setup_logging(given: str | None = None) -> None:
    """genq's log on stderr, as ``given`` (or GENQ_LOG_FORMAT) says, at GENQ_LOG_LEVEL; the
    worker processes it starts read the same choice from the environment."""
    from genq import logs

    try:
        fmt = logs.log_format(given)
    except ValueError as exc:
        raise fail(str(exc)) from None
    os.environ[logs.FORMAT_VARIABLE] = fmt
    logs.setup(fmt)
