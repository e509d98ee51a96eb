"""The rules applied to jobs' money: the estimate a job holds, what it costs, what it is charged."""

from __future__ import annotations

from decimal import Decimal

import pytest

from genq import pricing
from genq.errors import ValidationFailed
from genq.jobs import OutputRecord, Status
from genq.models.base import Price
from genq.models.registry import ModelRegistry


def output(duration: float | None = None) -> OutputRecord:
    return OutputRecord(
        "job_1/1/output-0.bin", "application/octet-stream", 1, "0" * 64, duration=duration
    )


def test_the_estimate_is_at_the_alias_price_where_the_alias_has_one() -> None:
    """A job asked for by an alias with a price is estimated at that price, else at the
    model's."""
    registry = ModelRegistry(
        {"noop": {"price": {"per_job": 0.5}}},
        {"pricey": {"model": "noop", "price": {"per_job": 2}}, "plain": "noop"},
    )
    for name, expected in (("noop", "0.5"), ("pricey", "2"), ("plain", "0.5")):
        registered, alias = registry.resolve(name)
        assert pricing.estimate(registered, {}, alias) == Decimal(expected)


def test_an_estimate_no_balance_can_hold_is_refused() -> None:
    """An estimate past what a store's integer column holds is a 422 on the input."""
    registry = ModelRegistry({"noop": {"price": {"per_job": 10**13}}})
    registered, alias = registry.resolve("noop")
    with pytest.raises(ValidationFailed, match="more than any balance can hold"):
        pricing.estimate(registered, {}, alias)


def test_the_cost_counts_files_and_seconds_of_media() -> None:
    """A job's cost is one share per output file and one per second of media they hold."""
    price = Price(per_job=1, per_output=0.1, per_second=0.01)
    assert pricing.cost(price, [output(2.5), output(), output(0.5)]) == Decimal("1.33")
    assert pricing.cost(price, []) == Decimal(1)


@pytest.mark.parametrize(
    ("status", "actual", "charged"),
    [
        (Status.SUCCEEDED, "0.3", "0.3"),
        (Status.SUCCEEDED, "5", "1"),  # never more than the estimate it held
        (Status.SUCCEEDED, None, "0"),
        (Status.FAILED, "0.3", "0"),
        (Status.CANCELED, "0.3", "0"),
    ],
)
def test_a_job_is_charged_its_cost_capped_by_its_estimate(
    status: Status, actual: str | None, charged: str
) -> None:
    """A succeeded job pays its cost up to its estimate; a failed or canceled one nothing."""
    cost = None if actual is None else Decimal(actual)
    assert pricing.charge(status, cost, Decimal(1)) == Decimal(charged)
