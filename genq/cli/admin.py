"""The server-side commands: ``serve``, ``worker``, ``migrate``, ``keys``, ``console-link``
and ``models make-tiny``. They need the server's dependencies (``pip install 'genq[server]'``),
imported only when a command runs, so that the client commands work without them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from genq.cli.app import (
    LogFormat,
    accounts_app,
    app,
    fail,
    keys_app,
    models_app,
    setup_logging,
)
from genq.errors import ServiceError

if TYPE_CHECKING:
    from genq.settings import Settings
    from genq.store import JobStore

DataDir = typer.Option(
    None, "--data-dir", envvar="GENQ_DATA_DIR", help="Where genq keeps its data."
)
Config = typer.Option(None, "--config", envvar="GENQ_CONFIG", help="A TOML settings file.")
Db = typer.Option(
    None,
    "--db",
    help="Job database URL: sqlite:///PATH or postgresql://USER@HOST/DB[?schema=NAME] "
    "(env GENQ_DB; default: SQLite in the data dir).",
)
Storage = typer.Option(
    None,
    "--storage",
    help="Result storage URL: file:///PATH or s3://BUCKET/PREFIX "
    "(env GENQ_STORAGE; default: files in the data dir).",
)

SERVER_EXTRA = "this command runs the genq server: pip install 'genq[server]'"


def load_settings(config: Path | None, **overrides: object) -> Settings:
    try:
        from genq.settings import Settings
    except ImportError as exc:
        raise fail(f"{SERVER_EXTRA} ({exc})") from None
    try:
        return Settings.load(config, **overrides)
    except ServiceError as exc:
        raise fail(exc.message) from None


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default 8000)."),
    data_dir: Path = DataDir,
    workers: int = typer.Option(None, help="Worker processes to run (default 2)."),
    no_workers: bool = typer.Option(
        False, "--no-workers", help="Run the API only; workers run as `genq worker`."
    ),
    db: str = Db,
    storage: str = Storage,
    tls_cert: Path = typer.Option(
        None,
        "--tls-cert",
        help="Serve HTTPS with this PEM certificate (chain); needs --tls-key (env "
        "GENQ_TLS_CERT; default: plain HTTP).",
    ),
    tls_key: Path = typer.Option(
        None,
        "--tls-key",
        help="The certificate's private key, PEM, unencrypted (env GENQ_TLS_KEY).",
    ),
    config: Path = Config,
    log_format: str = LogFormat,
) -> None:
    """Run the API with supervised worker processes (or, with --no-workers, the API only)."""
    setup_logging(log_format)
    settings = load_settings(
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        workers=workers,
        db=db,
        storage=storage,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    from genq.server import serve as run_server

    try:
        run_server(settings, workers=not no_workers)
    except ServiceError as exc:
        raise fail(exc.message) from None


@app.command()
def worker(
    models: list[str] = typer.Option(
        None,
        "--models",
        help="Models this machine serves, comma-separated or repeated (default: every "
        "configured model).",
    ),
    concurrency: int = typer.Option(1, min=1, help="Worker processes to run."),
    burst: bool = typer.Option(False, "--burst", help="Exit once the queue is empty."),
    metrics_port: int = typer.Option(
        None,
        "--metrics-port",
        help="Serve the workers' figures for Prometheus at http://HOST:PORT/metrics (env "
        "GENQ_WORKER_METRICS_PORT; default: not served).",
    ),
    metrics_host: str = typer.Option(
        None,
        "--metrics-host",
        help="Address the figures are served on (env GENQ_WORKER_METRICS_HOST; default "
        "127.0.0.1). They take no key: anyone who reaches the address can read them.",
    ),
    db: str = Db,
    storage: str = Storage,
    data_dir: Path = DataDir,
    config: Path = Config,
    log_format: str = LogFormat,
) -> None:
    """Run worker processes only, on this or any machine that reaches the database and the
    result storage. SIGTERM lets running jobs finish (or hands them back after the cancel
    grace period). With --metrics-port, their figures are served at /metrics (the API
    processes serve the queue's)."""
    import asyncio

    setup_logging(log_format)
    settings = load_settings(
        config,
        data_dir=data_dir,
        db=db,
        storage=storage,
        worker_metrics_port=metrics_port,
        worker_metrics_host=metrics_host,
    )
    from genq.models.registry import ModelRegistry
    from genq.server import run_workers

    chosen = [name.strip() for item in models or [] for name in item.split(",") if name.strip()]
    try:
        registry = ModelRegistry(settings.models, settings.aliases)
        # An alias stands for its model: workers claim jobs by the model's own name.
        chosen = [registry.get(name).name for name in chosen]
        for name in chosen:
            registry.get(name).check_available()
        asyncio.run(
            run_workers(settings, models=chosen or None, concurrency=concurrency, burst=burst)
        )
    except ServiceError as exc:
        raise fail(exc.message) from None


@app.command()
def migrate(db: str = Db, data_dir: Path = DataDir, config: Path = Config) -> None:
    """Bring the database's schema up to this genq's version (stop every genq process that
    uses it, and back it up, first)."""
    from genq.store import open_store
    from genq.store.schema import SCHEMA_VERSION

    settings = load_settings(config, data_dir=data_dir, db=db)
    try:
        store = open_store(settings.db_url, migrate=True)
    except ServiceError as exc:
        raise fail(exc.message) from None
    store.close()
    if store.migrated is None:
        typer.echo(f"the database is already at version {SCHEMA_VERSION}")
    else:
        before, after = store.migrated
        typer.echo(f"migrated the database from version {before} to {after}")


def open_settings_store(data_dir: Path | None, config: Path | None, db: str | None) -> JobStore:
    from genq.store import open_store

    settings = load_settings(config, data_dir=data_dir, db=db)
    try:
        return open_store(settings.db_url)
    except ServiceError as exc:
        raise fail(exc.message) from None


def parse_balance(text: str, option: str = "--credits") -> Decimal:
    """A balance given on the command line, read exactly: a number of credits, not negative,
    with at most six decimals (a micro-credit)."""
    from genq.credits import parse_credits, to_micros

    try:
        amount = parse_credits(text)
        to_micros(amount)
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from None
    if amount < 0:
        raise fail(f"{option}: cannot be negative, got {text}")
    return amount


@keys_app.command("create")
def keys_create(
    account: str = typer.Option(..., help="The account (namespace) the key belongs to."),
    name: str = typer.Option(None, help="A label for the key."),
    credits: str = typer.Option(
        None,
        help="Starting balance of a new account, in credits to the micro-credit (0.000001); "
        "default: no limit.",
    ),
    admin: bool = typer.Option(
        False,
        "--admin",
        help="Make the account an admin account (new or not): its keys manage every account "
        "and key through the API and the console.",
    ),
    db: str = Db,
    data_dir: Path = DataDir,
    config: Path = Config,
) -> None:
    """Create a key (and its account, if new); the key is printed alone on the last line."""
    from genq.credits import credits_text
    from genq.keys import create_key

    balance = None if credits is None else parse_balance(credits)
    store = open_settings_store(data_dir, config, db)
    key, raw = create_key(store, account, name=name, credits=balance, admin=admin)
    account_row = store.get_account(key.account_id)
    shown = (
        "no limit"
        if account_row is None or account_row.credits is None
        else credits_text(account_row.credits)
    )
    kind = "admin account" if account_row is not None and account_row.admin else "account"
    typer.echo(f"Created key {key.id} for {kind} {account!r} (credits: {shown}). It is shown once:")
    typer.echo(raw)


@keys_app.command("list")
def keys_list(db: str = Db, data_dir: Path = DataDir, config: Path = Config) -> None:
    """List keys (never the keys themselves: only their first characters)."""
    store = open_settings_store(data_dir, config, db)
    table = Table("id", "account", "name", "prefix", "status", "created")
    for key in store.list_keys():
        created = datetime.fromtimestamp(key.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        status = "disabled" if key.disabled else "active"
        table.add_row(key.id, key.account_name, key.name or "", key.prefix + "…", status, created)
    Console(width=120).print(table)


def _change_key(
    key_id: str, data_dir: Path | None, config: Path | None, db: str | None, action: str
) -> None:
    store = open_settings_store(data_dir, config, db)
    if action == "deleted":
        done = store.delete_key(key_id)
    else:
        done = store.set_key_disabled(key_id, action == "disabled")
    if not done:
        typer.echo(f"error: no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{action} {key_id}")


@keys_app.command("disable")
def keys_disable(
    key_id: str, db: str = Db, data_dir: Path = DataDir, config: Path = Config
) -> None:
    """Disable a key: requests with it answer 401."""
    _change_key(key_id, data_dir, config, db, "disabled")


@keys_app.command("enable")
def keys_enable(key_id: str, db: str = Db, data_dir: Path = DataDir, config: Path = Config) -> None:
    """Enable a disabled key again."""
    _change_key(key_id, data_dir, config, db, "enabled")


@keys_app.command("delete")
def keys_delete(key_id: str, db: str = Db, data_dir: Path = DataDir, config: Path = Config) -> None:
    """Delete a key for good."""
    _change_key(key_id, data_dir, config, db, "deleted")


@accounts_app.command("list")
def accounts_list(db: str = Db, data_dir: Path = DataDir, config: Path = Config) -> None:
    """List accounts with their balance, what their unfinished jobs hold, their keys, their
    weight and the limits that apply to them (``*``: the account's own, not the default)."""
    from genq.account_limits import effective
    from genq.cli.limits import limits_summary
    from genq.credits import credits_text
    from genq.service.quotas import limit_defaults

    defaults = limit_defaults(load_settings(config, data_dir=data_dir, db=db))
    store = open_settings_store(data_dir, config, db)
    table = Table(
        "id", "name", "credits", "held", "keys", "admin", "created", "weight", "limits (*: own)"
    )
    for summary in store.list_accounts():
        account = summary.account
        credits = "no limit" if account.credits is None else credits_text(account.credits)
        created = datetime.fromtimestamp(account.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        admin = "admin" if account.admin else ""
        held = credits_text(summary.held)
        limits = limits_summary(effective(account, defaults))
        table.add_row(
            account.id,
            account.name,
            credits,
            held,
            str(summary.keys),
            admin,
            created,
            f"{account.weight:g}",
            limits,
        )
    Console(width=160).print(table)


@accounts_app.command("credit")
def accounts_credit(
    account: str = typer.Argument(..., help="The account's name."),
    amount: str = typer.Argument(..., help="Credits to add, to the micro-credit (0.000001)."),
    db: str = Db,
    data_dir: Path = DataDir,
    config: Path = Config,
) -> None:
    """Add credits to an account's balance (an account without a limit needs none)."""
    from genq.credits import credits_text

    added = parse_balance(amount, option="amount")
    if added == 0:
        raise fail("amount: must be more than 0")
    store = open_settings_store(data_dir, config, db)
    found = store.find_account(account)
    if found is None:
        raise fail(f"no account {account!r}: see `genq accounts list`")
    try:
        raised = store.add_credits(found.id, added)
    except ServiceError as exc:
        raise fail(exc.message) from None
    assert raised is not None
    assert raised.credits is not None
    typer.echo(f"{account}: {credits_text(raised.credits)} credits")


LimitOption = "a number, 'none' (no limit) or 'default' (the configured default)"


@accounts_app.command("limits")
def accounts_limits(
    account: str = typer.Argument(..., help="The account's name."),
    weight: str = typer.Option(
        None, help="Its share of worker time against other accounts' (more than 0; 'default': 1)."
    ),
    max_running: str = typer.Option(None, help=f"Its jobs running at once: {LimitOption}."),
    max_queued: str = typer.Option(None, help=f"Its jobs queued at once: {LimitOption}."),
    rate: str = typer.Option(None, help=f"Requests per second per key: {LimitOption}."),
    burst: str = typer.Option(
        None, help=f"Requests a key may send at once above its rate: {LimitOption}."
    ),
    quota: str = typer.Option(
        None,
        help=f"Bytes its stored outputs may hold (10GiB, 500MB, ...): {LimitOption}.",
    ),
    db: str = Db,
    data_dir: Path = DataDir,
    config: Path = Config,
) -> None:
    """Set an account's weight and limits (the options given; the others are kept) and print
    them, each with where it comes from, and what they count; without options, print them."""
    import time

    from genq.account_limits import effective
    from genq.cli.limits import limits_report, parse_limit
    from genq.service.quotas import limit_defaults

    given = {
        "weight": ("--weight", weight),
        "max_running": ("--max-running", max_running),
        "max_queued": ("--max-queued", max_queued),
        "rate_per_second": ("--rate", rate),
        "rate_burst": ("--burst", burst),
        "storage_quota_bytes": ("--quota", quota),
    }
    changes: dict[str, int | float | None] = {}
    for name, (option, text) in given.items():
        if text is not None:
            try:
                changes[name] = parse_limit(name, text)
            except ValueError as exc:
                raise fail(f"{option}: {exc}") from None
    defaults = limit_defaults(load_settings(config, data_dir=data_dir, db=db))
    store = open_settings_store(data_dir, config, db)
    try:
        found = store.find_account(account)
        if found is None:
            raise fail(f"no account {account!r}: see `genq accounts list`")
        changed = store.set_account_limits(found.id, changes)
        assert changed is not None
        usage = store.account_usage(changed.id, time.time())
    finally:
        store.close()
    limits = effective(changed, defaults)
    typer.echo(limits_report(account, changed.weight, limits, usage))


@app.command("console-link")
def console_link(
    account: str = typer.Option(
        "default", help="The account the link signs in to (default: the first start's)."
    ),
    db: str = Db,
    data_dir: Path = DataDir,
    config: Path = Config,
) -> None:
    """Print a one-time link that signs the console in to an account (valid 10 minutes): the
    link alone on stdout. It points at public_url, else at the host and port genq serves on."""
    from genq.keys import SIGN_IN_SECONDS
    from genq.server import console_link as make_link

    settings = load_settings(config, data_dir=data_dir, db=db)
    store = open_settings_store(data_dir, config, db)
    try:
        link = make_link(settings, store, account)
    finally:
        store.close()
    if link is None:
        raise fail(f"no account {account!r}: see `genq keys list`")
    typer.echo(f"a one-time link, valid {int(SIGN_IN_SECONDS // 60)} minutes:", err=True)
    typer.echo(link)


@models_app.command("make-tiny")
def models_make_tiny(
    directory: Path = typer.Argument(..., help="Where to write one folder per pipeline."),
    kinds: list[str] = typer.Option(
        None, "--kind", help="Pipelines to build (repeatable; default: every small one)."
    ),
    seed: int = typer.Option(0, help="Seed of the random weights."),
) -> None:
    """Build tiny random-weight pipelines to try the runtimes with, without a download.

    They are saved as real checkpoints are, one folder per kind; their output is noise."""
    from genq.testing import tiny

    try:
        built = tiny.make_tiny(directory, kinds or None, seed=seed)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:
        raise fail(
            f"building pipelines needs the model runtimes: pip install 'genq[diffusers]' ({exc})"
        ) from None
    table = Table("kind", "tasks", "folder")
    for kind, folder in built.items():
        table.add_row(kind, ", ".join(tiny.KINDS[kind].tasks), str(folder))
    Console().print(table)
