"""``genq models list|show``: the models a genq server offers."""

from __future__ import annotations

import typer

from genq.cli.app import models_app
from genq.cli.connection import Key, MaxRetries, Url, connect
from genq.cli.render import AsJson, model_view, models_table, print_result


@models_app.command("list")
def models_list(
    as_json: bool = AsJson, url: str = Url, key: str = Key, max_retries: int | None = MaxRetries
) -> None:
    """List the models the server offers."""
    with connect(url, key, max_retries) as client:
        models = client.models.list()
    print_result([model.raw for model in models], as_json, lambda: models_table(models))


@models_app.command("show")
def models_show(
    name: str = typer.Argument(..., help="The model, by its name or an alias."),
    as_json: bool = AsJson,
    url: str = Url,
    key: str = Key,
    max_retries: int | None = MaxRetries,
) -> None:
    """Show a model: description, price, aliases and a table of its input fields."""
    with connect(url, key, max_retries) as client:
        model = client.models.get(name)
    print_result(model.raw, as_json, lambda: model_view(model))
