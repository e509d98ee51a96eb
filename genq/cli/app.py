"""The ``genq`` command and what its subcommands share."""

from __future__ import annotations

import logging
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


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("GENQ_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
