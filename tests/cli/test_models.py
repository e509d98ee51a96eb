"""`genq models list|show` against a real `genq serve`, and how prices print."""

from __future__ import annotations

import json
from typing import Any

import pytest

from genq.cli.render import amount_text, price_text
from tests.cli.invoke import genq, succeeded
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


def test_models_list(server: GenqServer) -> None:
    """`genq models list` shows every model with its price; --json prints the server's list."""
    table = succeeded(genq(server, "models", "list")).stdout
    for expected in ("demo-image", "noop", "0.0001 per job", "Qwen/Qwen-Image"):
        assert expected in table
    models = json.loads(succeeded(genq(server, "models", "list", "--json")).stdout)
    assert {"demo-image", "noop"} <= {model["name"] for model in models}


def test_amounts_print_as_their_exact_decimal() -> None:
    """Costs and prices print as the decimal their JSON number reads: every digit, no
    exponent."""
    assert amount_text(1e-05) == "0.00001"
    assert amount_text(1.234567) == "1.234567"
    price = {"per_job": 0.0001, "per_output": 0.0, "per_second": 1e-07}
    assert price_text(price) == "0.0001 per job + 0.0000001 per second"


def test_models_show_tabulates_the_input_schema(server: GenqServer) -> None:
    """`genq models show` names each field of the input schema with its type, default and
    limits; an alias works too, and --json prints the server's JSON."""
    text = succeeded(genq(server, "models", "show", "text2image")).stdout
    assert "demo-image" in text
    for field in ("prompt", "aspect_ratio", "width", "num_images", "seed", "output_format"):
        assert field in text
    for expected in ("field", "required", "limits / choices", "1 to 8", "png, jpeg, webp"):
        assert expected in text
    model = json.loads(succeeded(genq(server, "models", "show", "noop", "--json")).stdout)
    assert set(model["input_schema"]["properties"]) >= {"sleep_ms", "steps", "fail"}


def test_models_show_says_the_models_task() -> None:
    """A model that says what it does shows its task; one that does not, no task row."""
    from io import StringIO

    from rich.console import Console

    from genq.cli.render import model_view
    from genq.client import ModelInfo

    def shown(data: dict[str, Any]) -> str:
        out = StringIO()
        Console(file=out, width=120).print(model_view(ModelInfo.from_api(data)))
        return out.getvalue()

    whisper = {"name": "whisper", "modality": "text", "task": "automatic-speech-recognition"}
    assert ModelInfo.from_api(whisper).task == "automatic-speech-recognition"
    assert "automatic-speech-recognition" in shown(whisper)
    assert "task" not in shown({"name": "noop", "modality": "text", "task": None})
