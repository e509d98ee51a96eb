"""A model's input schema as a table, for ``genq models show``: one row per field with its
type, default and limits in a few words."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text


def field_type(prop: dict[str, Any]) -> str:
    """A schema property's type in a few words: ``integer``, ``array of string``, ``string |
    null``."""
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array of {field_type(prop['items'])}"
    if kind is not None:
        return str(kind)
    for combinator in ("anyOf", "oneOf"):
        if isinstance(prop.get(combinator), list):
            return " | ".join(field_type(p) for p in prop[combinator] if isinstance(p, dict))
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return "enum"
    return "any"


def _range(low: Any, high: Any, unit: str = "") -> str | None:
    if low is None and high is None:
        return None
    if low is None:
        return f"{unit}≤ {high}"
    if high is None:
        return f"{unit}≥ {low}"
    return f"{unit}{low} to {high}"


def field_limits(prop: dict[str, Any]) -> str:
    """A schema property's choices and bounds: ``png, jpeg``, ``1 to 8``, ``length ≤ 2000``."""
    parts: list[str] = []
    if isinstance(prop.get("enum"), list):
        parts.append(", ".join(v if isinstance(v, str) else json.dumps(v) for v in prop["enum"]))
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    for text in (
        _range(low, high),
        _range(prop.get("minLength"), prop.get("maxLength"), "length "),
        _range(prop.get("minItems"), prop.get("maxItems"), "items "),
    ):
        if text is not None:
            parts.append(text)
    if "exclusiveMinimum" in prop or "exclusiveMaximum" in prop:
        parts.append("(exclusive)")
    if "pattern" in prop:
        parts.append(f"pattern {prop['pattern']}")
    if "format" in prop:
        parts.append(f"format {prop['format']}")
    return "; ".join(parts)


def schema_table(schema: dict[str, Any]) -> Table:
    """A model's input schema as a table: one row per field."""
    table = Table("field", "type", "required", "default", "limits / choices", "description")
    required = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        table.add_row(
            Text(name, style="bold"),
            Text(field_type(prop)),
            Text("yes" if name in required else ""),
            Text(json.dumps(prop["default"]) if "default" in prop else ""),
            Text(field_limits(prop)),
            Text(str(prop.get("description") or prop.get("title") or "")),
        )
    return table
