"""The ``genq`` command line."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from genq.errors import ConfigError
from genq.settings import Settings
from genq.store import JobStore, open_store

app = typer.Typer(
    help="genq: asynchronous inference for generative media models.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDir = typer.Option(
    None, "--data-dir", envvar="GENQ_DATA_DIR", help="Where genq keeps its data."
)
Config = typer.Option(None, "--config", envvar="GENQ_CONFIG", help="A TOML settings file.")


def load_settings(config: Path | None, **overrides: object) -> Settings:
    try:
        return Settings.load(config, **overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default 8000)."),
    data_dir: Path = DataDir,
    workers: int = typer.Option(None, help="Worker processes to run (default 2)."),
    config: Path = Config,
) -> None:
    """Run the API with supervised worker processes."""
    from genq.server import serve as run_server

    logging.basicConfig(
        level=os.environ.get("GENQ_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings(config, host=host, port=port, data_dir=data_dir, workers=workers)
    try:
        run_server(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def open_settings_store(data_dir: Path | None, config: Path | None) -> JobStore:
    settings = load_settings(config, data_dir=data_dir)
    try:
        return open_store(settings.db_url)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("create")
def keys_create(
    account: str = typer.Option(..., help="The account (namespace) the key belongs to."),
    name: str = typer.Option(None, help="A label for the key."),
    credits: float = typer.Option(
        None, help="Starting balance of a new account (default: no limit)."
    ),
    data_dir: Path = DataDir,
    config: Path = Config,
) -> None:
    """Create a key (and its account, if new); the key is printed alone on the last line."""
    from genq.keys import create_key

    store = open_settings_store(data_dir, config)
    key, raw = create_key(store, account, name=name, credits=credits)
    account_row = store.get_account(key.account_id)
    balance = (
        "no limit"
        if account_row is None or account_row.credits is None
        else f"{account_row.credits:g}"
    )
    typer.echo(
        f"Created key {key.id} for account {account!r} (credits: {balance}). It is shown once:"
    )
    typer.echo(raw)


@keys_app.command("list")
def keys_list(data_dir: Path = DataDir, config: Path = Config) -> None:
    """List keys (never the keys themselves: only their first characters)."""
    store = open_settings_store(data_dir, config)
    table = Table("id", "account", "name", "prefix", "status", "created")
    for key in store.list_keys():
        created = datetime.fromtimestamp(key.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        status = "disabled" if key.disabled else "active"
        table.add_row(key.id, key.account_name, key.name or "", key.prefix + "…", status, created)
    Console(width=120).print(table)


def _change_key(key_id: str, data_dir: Path | None, config: Path | None, action: str) -> None:
    store = open_settings_store(data_dir, config)
    done = store.delete_key(key_id) if action == "deleted" else store.set_key_disabled(key_id, True)
    if not done:
        typer.echo(f"error: no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{action} {key_id}")


@keys_app.command("disable")
def keys_disable(key_id: str, data_dir: Path = DataDir, config: Path = Config) -> None:
    """Disable a key: requests with it answer 401."""
    _change_key(key_id, data_dir, config, "disabled")


@keys_app.command("delete")
def keys_delete(key_id: str, data_dir: Path = DataDir, config: Path = Config) -> None:
    """Delete a key for good."""
    _change_key(key_id, data_dir, config, "deleted")
