"""Amounts of credits: exact parsing, micro-credits for the stores, exact JSON numbers."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from genq.credits import (
    MAX_MICROS,
    credits_json,
    credits_text,
    from_micros,
    parse_credits,
    round_credits,
    to_micros,
)


def test_floats_are_read_by_their_shortest_text() -> None:
    """A float stands for the decimal it prints as; ints, text and Decimals are taken as they
    are."""
    assert parse_credits(0.1) == Decimal("0.1")
    assert parse_credits(1e-05) == Decimal("0.00001")
    assert parse_credits(3) == Decimal(3)
    assert parse_credits(" 0.000001 ") == Decimal("0.000001")
    assert parse_credits(Decimal("2.5")) == Decimal("2.5")


@pytest.mark.parametrize("value", [True, None, "ten", "", float("nan"), float("inf"), "-Infinity"])
def test_what_is_not_a_finite_number_is_refused(value: object) -> None:
    """Booleans, missing values, words and non-finite numbers are not amounts."""
    with pytest.raises(ValueError, match="expected a"):
        parse_credits(value)


def test_micro_credits_round_trip() -> None:
    """The stores' whole micro-credits and exact amounts convert both ways without loss."""
    for micros in (0, 1, 100, -5, 1_500_000, 123_456_789_123_456, MAX_MICROS):
        assert to_micros(from_micros(micros)) == micros
    assert from_micros(100) == Decimal("0.0001")
    assert str(from_micros(10_000_000)) == "10"


def test_amounts_finer_than_a_micro_credit_or_too_large_are_not_stored() -> None:
    """to_micros refuses a part below 0.000001 and more than a 64-bit column holds."""
    with pytest.raises(ValueError, match="whole number of micro-credits"):
        to_micros(Decimal("0.0000001"))
    with pytest.raises(ValueError, match="more credits than"):
        to_micros(from_micros(MAX_MICROS) + 1)


def test_rounding_is_half_up_to_the_micro_credit() -> None:
    """Halves round away from zero; anything else to the nearest micro-credit."""
    assert round_credits(Decimal("0.0000005")) == Decimal("0.000001")
    assert round_credits(Decimal("0.0000025")) == Decimal("0.000003")
    assert round_credits(Decimal("0.00000049")) == 0
    assert round_credits(Decimal("-0.0000005")) == Decimal("-0.000001")


@pytest.mark.parametrize(
    ("micros", "json"),
    [
        (100, b"0.0001"),
        (1, b"1e-6"),
        (300_000, b"0.3"),
        (12_500, b"0.0125"),
        (999_999_999_999_999, b"999999999.999999"),
    ],
)
def test_json_numbers_read_as_the_exact_amount(micros: int, json: bytes) -> None:
    """An amount below a billion credits is a JSON number whose text is the amount itself."""
    amount = credits_json(from_micros(micros))
    assert orjson.dumps(amount) == json
    assert Decimal(orjson.dumps(amount).decode()) == from_micros(micros)


def test_text_is_plain_decimal() -> None:
    """Amounts print without exponent or trailing zeros, and never as -0."""
    assert credits_text(Decimal("0.000010")) == "0.00001"
    assert credits_text(from_micros(10_000_000)) == "10"
    assert credits_text(Decimal("-0.000000")) == "0"
    assert credits_text(Decimal("-0.5")) == "-0.5"
