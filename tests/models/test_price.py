"""Prices: exact parts, an exact cost rounded half up to the micro-credit, and config prices
read by their decimal text."""

from __future__ import annotations

import tomllib
from decimal import Decimal

import orjson
import pytest

from genq.errors import ConfigError
from genq.models.base import Price
from genq.models.registry import ModelRegistry


def test_a_cost_is_exact() -> None:
    """per_job + per_output x outputs + per_second x seconds is computed without binary
    float error."""
    price = Price(per_job=0.1, per_output=0.2, per_second=0.0001)
    assert price.cost(3, 2.5) == Decimal("0.70025")
    assert Price(per_job=0.0001).cost(1, 0) == Decimal("0.0001")
    assert Price(per_second=0.01).cost(1, 3.3) == Decimal("0.033")


@pytest.mark.parametrize(
    ("per_second", "seconds", "cost"),
    [
        ("0.0000015", 1, "0.000002"),  # a half rounds up...
        ("0.0000015", 3, "0.000005"),  # ...even where half-even would round down
        ("0.0000001", 4.9, "0"),
        ("0.0000001", 5, "0.000001"),
        ("0.0000001", 14.99, "0.000001"),
    ],
)
def test_a_cost_is_rounded_half_up_to_the_micro_credit(
    per_second: str, seconds: float, cost: str
) -> None:
    """A price finer than a micro-credit is kept; the cost is rounded half up to 0.000001."""
    assert Price(per_second=per_second).cost(0, seconds) == Decimal(cost)


def test_config_prices_are_read_by_their_decimal_text() -> None:
    """A TOML price (a float) is the decimal it was written as, for models and aliases, and
    the API shows it as that same JSON number."""
    config = tomllib.loads(
        "[models.noop]\nprice = { per_job = 0.1, per_output = 0.2 }\n"
        '[aliases.cheap]\nmodel = "noop"\nprice = { per_job = 0.0003, per_second = 1e-7 }\n'
    )
    registry = ModelRegistry(config["models"], config["aliases"])
    price = registry.get("noop").price
    assert (price.per_job, price.per_output) == (Decimal("0.1"), Decimal("0.2"))
    assert price.cost(1, 0) == Decimal("0.3")
    cheap = registry.price_for("noop", "cheap")
    assert (cheap.per_job, cheap.per_second) == (Decimal("0.0003"), Decimal("1E-7"))
    assert orjson.dumps(cheap.to_dict()) == b'{"per_job":0.0003,"per_output":0.0,"per_second":1e-7}'


@pytest.mark.parametrize(
    "price",
    [{"per_job": -0.1}, {"per_output": "lots"}, {"per_second": float("nan")}, {"per_job": True}],
)
def test_bad_config_prices_stop_start_up(price: dict[str, object]) -> None:
    """A negative, non-numeric or non-finite price is a config error naming the part."""
    part = next(iter(price))
    with pytest.raises(ConfigError, match=rf"\[models.noop\].price: {part}"):
        ModelRegistry({"noop": {"price": price}})
    with pytest.raises(ConfigError, match=rf"cheap'\].price: {part}"):
        ModelRegistry(aliases={"cheap": {"model": "noop", "price": price}})
