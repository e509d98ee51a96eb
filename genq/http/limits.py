"""An account's weight and limits through the native API: the body of an admin's change, and
how an account's limits and usage are shown (``genq.account_limits`` has the rules)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from genq.account_limits import MAXIMA, WHOLE, checked
from genq.service.quotas import AccountLimitsView


def _schema(name: str) -> dict[str, Any]:
    kind = "integer" if name in WHOLE else "number"
    return {"type": kind, "minimum": 0, "maximum": MAXIMA[name]}


def _checks(name: str) -> Callable[[object], int | float]:
    return functools.partial(checked, name)


MaxRunning = Annotated[
    int, PlainValidator(_checks("max_running")), WithJsonSchema(_schema("max_running"))
]
MaxQueued = Annotated[
    int, PlainValidator(_checks("max_queued")), WithJsonSchema(_schema("max_queued"))
]
Rate = Annotated[
    float, PlainValidator(_checks("rate_per_second")), WithJsonSchema(_schema("rate_per_second"))
]
Burst = Annotated[int, PlainValidator(_checks("rate_burst")), WithJsonSchema(_schema("rate_burst"))]
Quota = Annotated[
    int,
    PlainValidator(_checks("storage_quota_bytes")),
    WithJsonSchema(_schema("storage_quota_bytes")),
]
Weight = Annotated[
    float,
    PlainValidator(_checks("weight")),
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
