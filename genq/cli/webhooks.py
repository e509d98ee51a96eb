"""``genq webhooks list|create|delete|enable|disable|rotate-secret|deliveries|redeliver``:
the account's webhook endpoints on a genq server, and the calls made for its jobs."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from genq.cli.app import webhooks_app
from genq.cli.connection import Key, MaxRetries, Url, connect
from genq.cli.render import (
    AsJson,
    fields_grid,
    local_time,
    print_json,
    print_result,
    stdout_console,
)
from genq.client import Webhook, WebhookDelivery

WebhookId = typer.Argument(..., help="The endpoint's id (wh_...).")


@webhooks_app.command("list")
def webhooks_list(
    as_json: bool = AsJson, url: str = Url, key: str = Key, max_retries: int | None = MaxRetries
) -> None:
    """List the account's webhook endpoints, oldest first."""
    with connect(url, key, max_retries) as client:
        endpoints = client.webhooks.list()
    if as_json:
        print_json([endpoint.raw for endpoint in endpoints])
    elif endpoints:
        print_table(endpoints_table(endpoints))
    else:
        typer.echo("no webhook endpoints", err=True)


@webhooks_app.command("create")
def webhooks_create(
    endpoint_url: str = typer.Argument(
        ..., metavar="URL", help="The https URL to call (POST, signed with its own secret)."
    ),
    events: list[str] = typer.Option(
        None,
        "--event",
        "-e",
        help="Call it for this event: start, progress, output or completed (default "
        "completed). Repeat for several.",
    ),
    models: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Only for jobs of this model (or alias); repeat for several (default: every model).",
    ),
    description: str = typer.Option(None, "--description", help="A note, shown in lists."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Register an endpoint and print it with its secret.

    The endpoint is called for the account's jobs; its secret is shown this once."""
    with connect(url, key, max_retries) as client:
        endpoint = client.webhooks.create(
            endpoint_url, events=events or None, models=models or None, description=description
        )
    print_result(endpoint.raw, as_json, lambda: endpoint_view(endpoint))
    typer.echo(
        "The secret is shown this once: keep it to verify the calls (genq.webhooks.verify).",
        err=True,
    )


@webhooks_app.command("delete")
def webhooks_delete(
    webhook_id: str = WebhookId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Delete an endpoint: its calls not yet sent fail, those sent stay listed."""
    with connect(url, key, max_retries) as client:
        client.webhooks.delete(webhook_id)
    if as_json:
        print_json({"object": "webhook", "id": webhook_id, "deleted": True})
    else:
        typer.echo(f"deleted {webhook_id}")


@webhooks_app.command("enable")
def webhooks_enable(
    webhook_id: str = WebhookId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Enable an endpoint again.

    It is called for the changes from now on; `genq webhooks redeliver` sends a call it
    missed."""
    with connect(url, key, max_retries) as client:
        endpoint = client.webhooks.enable(webhook_id)
    print_line(endpoint, as_json)


@webhooks_app.command("disable")
def webhooks_disable(
    webhook_id: str = WebhookId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Disable an endpoint: no calls from now on, and those not yet sent fail."""
    with connect(url, key, max_retries) as client:
        endpoint = client.webhooks.disable(webhook_id)
    print_line(endpoint, as_json)


@webhooks_app.command("rotate-secret")
def webhooks_rotate_secret(
    webhook_id: str = WebhookId,
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Give an endpoint a new secret and print it (shown this once).

    For 24 hours each call carries a signature with the old secret too, so that the receiver
    can switch meanwhile."""
    with connect(url, key, max_retries) as client:
        endpoint = client.webhooks.rotate_secret(webhook_id)
    print_result(endpoint.raw, as_json, lambda: endpoint_view(endpoint))
    typer.echo(
        "The new secret is shown this once; the old one also signs the calls for 24 hours.",
        err=True,
    )


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    job: str = typer.Option(None, "--job", help="Only the calls for this job."),
    webhook: str = typer.Option(None, "--webhook", help="Only the calls of this endpoint."),
    state: str = typer.Option(
        None, "--state", help="Only calls in this state: pending, delivered or failed."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many calls."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """List the webhook calls made for the account's jobs, newest first.

    Both the calls to the account's endpoints and those to jobs' own webhooks."""
    with connect(url, key, max_retries) as client:
        calls = list(
            client.webhooks.deliveries(job_id=job, webhook_id=webhook, state=state, limit=limit)
        )
    if as_json:
        print_json([call.raw for call in calls])
    elif calls:
        print_table(deliveries_table(calls))
    else:
        typer.echo("no webhook calls", err=True)


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    delivery_id: str = typer.Argument(..., help="The call's id (msg_...)."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Send a webhook call again and print it.

    A delivered or failed call is sent again with the same webhook-id and a new retry window;
    one still pending stays as it is."""
    with connect(url, key, max_retries) as client:
        call = client.webhooks.redeliver(delivery_id)
    print_result(call.raw, as_json, lambda: delivery_view(call))


# -- printing ------------------------------------------------------------------------------
def print_table(table: Table) -> None:
    """A table on stdout; to a file or a pipe at its full width, since three ids and a time
    already take most of ``PIPE_WIDTH``."""
    console = stdout_console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        unbounded = console.options.update_width(sys.maxsize)
        console.width = max(console.width, Measurement.get(console, unbounded, table).maximum)
    console.print(table)


def print_line(endpoint: Webhook, as_json: bool) -> None:
    if as_json:
        print_json(endpoint.raw)
    else:
        typer.echo(f"{endpoint.id}: {endpoint_state(endpoint)}")


def endpoint_state(endpoint: Webhook) -> str:
    if endpoint.enabled:
        return "enabled"
    return f"disabled: {endpoint.disabled_reason}" if endpoint.disabled_reason else "disabled"


def models_text(endpoint: Webhook) -> str:
    return "every model" if endpoint.models is None else ", ".join(endpoint.models)


def endpoints_table(endpoints: list[Webhook]) -> Table:
    table = Table("id", "url", "events", "models", "state", "created", "description")
    table.columns[0].no_wrap = True
    for endpoint in endpoints:
        table.add_row(
            Text(endpoint.id),
            Text(endpoint.url),
            Text(", ".join(endpoint.events)),
            Text(models_text(endpoint)),
            Text(endpoint_state(endpoint)),
            Text(local_time(endpoint.created_at)),
            Text(endpoint.description or ""),
        )
    return table


def endpoint_view(endpoint: Webhook) -> RenderableType:
    """One endpoint, with its secret when the answer carried it."""
    return fields_grid(
        [
            ("id", endpoint.id),
            ("url", endpoint.url),
            ("events", ", ".join(endpoint.events)),
            ("models", models_text(endpoint)),
            ("description", endpoint.description or ""),
            ("state", endpoint_state(endpoint)),
            ("created", local_time(endpoint.created_at)),
            ("secret", endpoint.secret or ""),
        ]
    )


def webhook_text(call: WebhookDelivery) -> str:
    return call.webhook_id or "(job's own)"


def deliveries_table(calls: list[WebhookDelivery]) -> Table:
    table = Table(
        "id",
        "job",
        "webhook",
        "event",
        "state",
        "attempts",
        "last status",
        "last error",
        "created",
    )
    # Ids are what one copies from the table, and the short values read best whole: only the
    # error wraps.
    for column in table.columns:
        column.no_wrap = column.header != "last error"
    for call in calls:
        table.add_row(
            Text(call.id),
            Text(call.job_id),
            Text(webhook_text(call)),
            Text(call.event),
            Text(call.state),
            str(call.attempts),
            "" if call.last_status is None else str(call.last_status),
            Text(call.last_error or ""),
            Text(local_time(call.created_at)),
        )
    return table


def delivery_view(call: WebhookDelivery) -> RenderableType:
    return fields_grid(
        [
            ("id", call.id),
            ("job", call.job_id),
            ("webhook", webhook_text(call)),
            ("event", call.event),
            ("url", call.url),
            ("state", call.state),
            ("attempts", str(call.attempts)),
            ("last status", "" if call.last_status is None else str(call.last_status)),
            ("last error", call.last_error or ""),
            ("created", local_time(call.created_at)),
            ("next attempt", local_time(call.next_attempt_at)),
            ("finished", local_time(call.finished_at)),
        ]
    )
