"""Putting the parts together: ``genq serve`` (API, with or without workers) and ``genq worker``
(workers only)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from genq import logs
from genq.errors import ConfigError
from genq.http.app import GenqApp, census, create_app
from genq.keys import SIGN_IN_SECONDS, create_key, new_sign_in_token, sign_in_link
from genq.models.registry import ModelRegistry
from genq.notify import open_notifier
from genq.service import JobService
from genq.service.disk_guard import workers_folder
from genq.settings import Settings, write_private
from genq.storage import open_storage
from genq.store import JobStore, open_store
from genq.worker.exporter import Exporter
from genq.worker.supervisor import Supervisor

log = logging.getLogger("genq")

DEFAULT_ACCOUNT = "default"


def build_app(settings: Settings, *, workers: bool = True) -> GenqApp:
    store = open_store(settings.db_url)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    notifier = open_notifier(settings.db_url)
    store.on_change(notifier.announce)
    service = JobService(
        settings, store, storage, ModelRegistry(settings.models, settings.aliases), notifier
    )
    supervisor = None
    if workers and settings.workers > 0:
        supervisor = Supervisor(settings, store, notifier, settings.workers)
        # Its workers write outputs here before storing them: new jobs need room there too.
        service.disk.watch(workers_folder())
    return create_app(service, supervisor, settings=settings, storage=storage)


async def run_workers(
    settings: Settings, *, models: list[str] | None, concurrency: int, burst: bool
) -> None:
    """``genq worker``: supervised worker processes, and their figures at ``/metrics`` if
    ``worker_metrics_port`` is set, until SIGTERM/SIGINT (or, with ``burst``, until the queue
    is empty)."""
    store = open_store(settings.db_url)
    notifier = open_notifier(settings.db_url, follow_jobs=False)
    store.on_change(notifier.announce)
    supervisor = Supervisor(settings, store, notifier, concurrency, models=models, burst=burst)
    exporter: Exporter | None = None
    try:
        port = settings.worker_metrics_port
        if port is not None:
            # Before any worker starts: an address it cannot have ends the command at once.
            exporter = await Exporter.start(census(supervisor), settings.worker_metrics_host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await supervisor.start()
        await notifier.start()
        print(
            f"genq worker: {concurrency} process(es) serving "
            f"{', '.join(models) if models else 'every configured model'}"
            + ("" if port is None else f"; figures at {metrics_url(settings)}"),
            flush=True,
        )
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if burst:
            waits.append(asyncio.ensure_future(supervisor.wait_exited()))
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        # Running jobs get the grace period to finish; those still running are handed back.
        await supervisor.stop(settings.cancel_grace_seconds)
    finally:
        if exporter is not None:
            await exporter.close()
        await notifier.close()
        store.close()


def metrics_url(settings: Settings) -> str:
    """Where ``genq worker`` serves its figures."""
    host = settings.worker_metrics_host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.worker_metrics_port}/metrics"


def first_start_key(settings: Settings, store: JobStore) -> str | None:
    """On the very first start, make a key for the default account (an admin account) and
    keep it in the data dir."""
    if store.list_keys():
        return None
    _, raw = create_key(store, DEFAULT_ACCOUNT, name="created on first start", admin=True)
    write_private(settings.key_file, raw + "\n")
    return raw


def base_url(settings: Settings) -> str:
    """Where people reach this server: ``public_url``, else the address it listens on (this
    machine's, when it listens on every address)."""
    if settings.public_url:
        return settings.public_url
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"{settings.scheme}://{host}:{settings.port}"


def check_tls(settings: Settings) -> None:
    """Refuse to start, in one line, with a TLS certificate without its key (or a key
    without its certificate), or ones that cannot be served (missing, unreadable, not PEM,
    not a pair, an encrypted key), rather than fail inside the server with a traceback."""
    cert, key = settings.tls_cert, settings.tls_key
    if cert is None and key is None:
        return
    if cert is None or key is None:
        given, missing = ("tls_cert", "tls_key") if key is None else ("tls_key", "tls_cert")
        raise ConfigError(f"cannot serve TLS: {given} is set but {missing} is not")
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot serve TLS: {name} {path}: {exc.strerror or exc}") from None

    def encrypted() -> bytes:
        raise ConfigError(f"cannot serve TLS: tls_key {key} is encrypted; give it unencrypted")

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key, encrypted)
    except ssl.SSLError as exc:
        reason = (exc.reason or "not PEM").replace("_", " ").lower()
        raise ConfigError(
            f"cannot serve TLS: {cert} and {key} are not a PEM certificate and its key ({reason})"
        ) from None


def console_link(settings: Settings, store: JobStore, account: str) -> str | None:
    """A one-time link that signs the console in to ``account``; None when there is no
    such account."""
    found = store.find_account(account)
    if found is None:
        return None
    return sign_in_link(base_url(settings), new_sign_in_token(store, found.id))


def serve(settings: Settings, *, workers: bool = True) -> None:
    check_tls(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.db_url)
    try:
        raw = first_start_key(settings, store)
        # Only the first start prints a way in: a link in the log of every start would let
        # whoever reads the log back in after the operator disabled the keys.
        link = None if raw is None else console_link(settings, store, DEFAULT_ACCOUNT)
    finally:
        store.close()
    url = base_url(settings)
    if raw is not None:
        print(f"Created an API key for account {DEFAULT_ACCOUNT!r}, saved in {settings.key_file}:")
        print(f"\n    {raw}\n")
    else:
        print(f"API keys: `genq keys list`; the first one is in {settings.key_file}")
    if link is not None:
        minutes = int(SIGN_IN_SECONDS // 60)
        print(f"Console: {link} (a one-time link, valid {minutes} minutes)")
    else:
        print(f"Console: {url}/ (sign in with a key, or a link from `genq console-link`)")
    key_expr = raw or f"$(cat {settings.key_file})"
    print("Try:")
    print(
        f'  curl -s {url}/v1/jobs -H "Authorization: Bearer {key_expr}" '
        "-H 'Content-Type: application/json' "
        '-d \'{"model": "demo-image", "input": {"prompt": "a lighthouse at dusk"}}\''
    )
    print(f"genq {url} (docs: {url}/docs), data in {settings.data_dir}", flush=True)
    app = build_app(settings, workers=workers)
    # In JSON, uvicorn's own lines go through genq's handler too (the same format).
    log_config = None if os.environ.get(logs.FORMAT_VARIABLE) == "json" else LOGGING_CONFIG
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        log_level=os.environ.get("GENQ_LOG_LEVEL", "warning").lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.cancel_grace_seconds) + 5,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
