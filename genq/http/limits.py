"""An account's weight and limits through the native API: the body of an admin's change, and
how an account's limits and usage are shown (``genq.account_limits`` has the rules)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from genq.account_limits import MAXIMA
from genq.service.quotas import AccountLimitsView


def _number(value: object, name: str, *, whole: bool) -> int | float:
    """A JSON number within ``MAXIMA[name]``, not negative (the body's fractions come as
    decimals, see ``genq.http.account.parse_body``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    if whole and value != int(value):
        raise ValueError("must be a whole number")
    number: int | float = int(value) if whole else float(value)
    if number < 0:
        raise ValueError("must not be negative")
    most = MAXIMA[name]
    if number > most:
        raise ValueError(f"must be at most {int(most) if whole else most}")
    return number


def _check(name: str, *, whole: bool) -> Callable[[object], int | float]:
    return functools.partial(_number, name=name, whole=whole)


def _schema(name: str, *, whole: bool) -> dict[str, Any]:
    return {"type": "integer" if whole else "number", "minimum": 0, "maximum": MAXIMA[name]}


MaxRunning = Annotated[
    int,
    PlainValidator(_check("max_running", whole=True)),
    WithJsonSchema(_schema("max_running", whole=True)),
]
MaxQueued = Annotated[
    int,
    PlainValidator(_check("max_queued", whole=True)),
    WithJsonSchema(_schema("max_queued", whole=True)),
]
Rate = Annotated[
    float,
    PlainValidator(_check("rate_per_second", whole=False)),
    WithJsonSchema(_schema("rate_per_second", whole=False)),
]
Burst = Annotated[
    int,
    PlainValidator(_check("rate_burst", whole=True)),
    WithJsonSchema(_schema("rate_burst", whole=True)),
]
Quota = Annotated[
    int,
    PlainValidator(_check("storage_quota_bytes", whole=True)),
    WithJsonSchema(_schema("storage_quota_bytes", whole=True)),
]


def _weight(value: object) -> float:
    weight = float(_number(value, "weight", whole=False))
    if weight == 0:
        raise ValueError("must be more than 0")
    return weight


Weight = Annotated[
    float,
    PlainValidator(_weight),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": MAXIMA["weight"]}),
]
_LIMIT = "null: back to the configured default; 0: no limit."


class LimitsChange(BaseModel):
    """An admin's change of an account's weight and limits: the fields given are set, the
    others kept."""

    model_config = ConfigDict(extra="forbid")

    weight: Weight | None = Field(
        default=None,
        description="Its share of worker time against other accounts' (fair scheduling); "
        "null: back to 1.",
    )
    max_running: MaxRunning | None = Field(
        default=None, description=f"Its jobs running at once. {_LIMIT}"
    )
    max_queued: MaxQueued | None = Field(
        default=None, description=f"Its jobs queued at once. {_LIMIT}"
    )
    rate_per_second: Rate | None = Field(
        default=None, description=f"Requests per second per key. {_LIMIT}"
    )
    rate_burst: Burst | None = Field(
        default=None, description=f"Requests a key may send at once above its rate. {_LIMIT}"
    )
    storage_quota_bytes: Quota | None = Field(
        default=None, description=f"Bytes its jobs' stored outputs may hold. {_LIMIT}"
    )

    def changes(self) -> dict[str, int | float | None]:
        """The fields the body gave, null ones included."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


def render_limits(view: AccountLimitsView) -> dict[str, Any]:
    """An account's weight, its limits as they apply (``value`` null: no limit; ``source``:
    ``account`` when an admin set it, else ``default``), and what they count."""
    usage = view.usage
    return {
        "weight": view.account.weight,
        "limits": {
            name: {"value": limit.value, "source": limit.source}
            for name, limit in view.limits.items()
        },
        "usage": {
            "queued": usage.queued,
            "running": usage.running,
            "stored_bytes": usage.stored_bytes,
        },
    }
