"""Credits, the unit jobs are priced in and accounts are charged in, held exactly.

An amount is a ``decimal.Decimal`` in Python and a whole number of micro-credits (one millionth
of a credit) in the job store's integer columns, so that sums and charges are exact in SQL as
well. A job's cost is rounded once, half up to the micro-credit, where a price meets a job's
usage (``Price.cost``); prices themselves may be finer. The API shows an amount as a JSON
number whose text is the exact amount: ``0.0001``, never ``0.00010000000000000002``.

Amounts written by people (prices in the TOML file, a balance on the command line) are read by
their decimal text: a TOML float ``0.1`` is the amount 0.1, not the binary fraction nearest it.
"""

from __future__ import annotations

import functools
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import overload

#: One micro-credit, the smallest amount a balance or a cost holds.
MICRO = Decimal("0.000001")
MICROS_PER_CREDIT = 1_000_000
#: The most micro-credits an integer column holds (about 9.2 million million credits).
MAX_MICROS = 2**63 - 1

#: For sums and products of amounts: finite decimals added and multiplied without rounding.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_UP)

#: An amount as a person or a config file may give it: exact (``Decimal``, ``int``, decimal
#: text) or a float, read by its shortest decimal text.
Amount = Decimal | int | float | str


def parse_credits(value: object) -> Decimal:
    """The exact amount ``value`` stands for: a ``Decimal``, an ``int``, decimal text, or a
    float read by its shortest text (``Decimal(str(x))``); ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        amount = Decimal(str(value).strip() if isinstance(value, float | str) else value)
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return amount


def round_credits(amount: Decimal) -> Decimal:
    """``amount`` rounded half up (away from zero) to the micro-credit."""
    return amount.quantize(MICRO, context=EXACT)


def to_micros(amount: Decimal) -> int:
    """The whole number of micro-credits in ``amount``, as the stores keep it (a signed 64-bit
    integer); ValueError when ``amount`` has a finer part (a cost is rounded before it gets
    here) or does not fit."""
    micros = EXACT.multiply(amount, MICROS_PER_CREDIT)
    if micros != micros.to_integral_value(context=EXACT):
        raise ValueError(f"{amount} is not a whole number of micro-credits (0.000001)")
    if abs(micros) > MAX_MICROS:
        raise ValueError(f"{amount} is more credits than a balance can hold")
    return int(micros)


# Kept: a job's costs are read with every status poll, and the same few prices recur.
@functools.lru_cache(maxsize=4096)
def from_micros(micros: int) -> Decimal:
    """The amount a store's whole number of micro-credits stands for (``100`` is 0.0001)."""
    return EXACT.divide(Decimal(int(micros)), MICROS_PER_CREDIT)


@overload
def credits_json(amount: Decimal) -> float: ...
@overload
def credits_json(amount: None) -> None: ...
def credits_json(amount: Decimal | None) -> float | None:
    """``amount`` for a JSON body (None stays None): the float whose shortest text is the
    amount's own digits, so the JSON number reads ``0.0001``. Exact for amounts of up to 15
    significant digits: any amount below a billion credits, to the micro-credit."""
    return None if amount is None else float(amount)


def credits_text(amount: Decimal) -> str:
    """``amount`` as plain decimal text, without an exponent or trailing zeros: ``0.00001``,
    ``12``, ``-0.5``."""
    text = format(amount.normalize(EXACT), "f")
    return "0" if text in ("-0", "0") else text
