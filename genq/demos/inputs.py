"""The input fields the demo models share: the object they sit in, the prompt, the seed and
the file format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genq.models.inputs import SEED_MAX


def input_object(required: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A demo model's input schema: ``properties``, no others, ``required`` among them."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [required],
        "properties": properties,
    }


def prompt_property(
    description: str, *, title: str = "Prompt", max_length: int = 2000, rows: int = 3
) -> dict[str, Any]:
    """The text a demo model works from, typed in a box of ``rows`` lines."""
    return {
        "type": "string",
        "title": title,
        "description": description,
        "minLength": 1,
        "maxLength": max_length,
        "x-playground": {"widget": "textarea", "rows": rows},
    }


def seed_property(result: str) -> dict[str, Any]:
    """The ``seed`` input of a demo model whose output is called ``result``."""
    return {
        "type": "integer",
        "title": "Seed",
        "description": f"Same prompt and seed give the same {result}; without it the seed "
        "comes from the prompt.",
        "minimum": 0,
        "maximum": SEED_MAX,
        "x-playground": {"widget": "number"},
    }


def format_property(description: str, formats: Sequence[str]) -> dict[str, Any]:
    """The file format of the output, the first of ``formats`` by default."""
    return {
        "type": "string",
        "title": "Format",
        "description": description,
        "enum": list(formats),
        "default": formats[0],
        "x-playground": {"widget": "select", "advanced": True},
    }
