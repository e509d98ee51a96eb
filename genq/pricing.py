"""What jobs cost: the estimate a job holds from its account's balance while it waits and runs
(refused when the balance cannot hold it), the cost of what it made, and what it is charged in
the end.

A ``Price`` (``genq.models``) describes what a model's work costs; these are the rules genq
applies to jobs with it, the same for every surface, store and worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from genq.credits import credits_json, credits_text, from_micros, to_micros
from genq.errors import OutOfCredits, ValidationFailed
from genq.jobs import OutputRecord, Status

if TYPE_CHECKING:
    from genq.models.aliases import Alias
    from genq.models.base import Price
    from genq.models.registry import RegisteredModel


def estimate(registered: RegisteredModel, input: dict[str, Any], alias: Alias | None) -> Decimal:
    """What a job of ``registered`` with the validated ``input`` costs by its model's forecast
    (``Model.usage``), at the price of the alias it was asked for by, where that has one.

    422 when the amount is more than any balance can hold: the job asks for too much work.
    """
    usage = registered.model.usage(input)
    price = alias.price if alias is not None and alias.price is not None else registered.price
    amount = price.cost(usage.outputs, usage.media_seconds)
    try:
        to_micros(amount)
    except ValueError:
        raise ValidationFailed(
            f"invalid input: the job would cost {amount:.6g} credits, more than any "
            "balance can hold",
            details=[{"path": "input", "message": "asks for too much work"}],
        ) from None
    return amount


def cost(price: Price, outputs: Sequence[OutputRecord]) -> Decimal:
    """What a job that made ``outputs`` costs at ``price``: its files, and the seconds of
    media they hold."""
    media_seconds = sum(o.duration or 0.0 for o in outputs)
    return price.cost(len(outputs), media_seconds)


def check_balance(estimate: Decimal, credits_micros: int, held_micros: int) -> None:
    """Refuse a job whose ``estimate`` exceeds the balance less what unfinished jobs hold (they
    hold their estimates, so that a burst of submits cannot promise more than the balance).
    Takes the store's whole micro-credits: the comparison is exact."""
    credits, held = from_micros(credits_micros), from_micros(held_micros)
    available = credits - held
    if estimate > available:
        raise OutOfCredits(
            f"the estimated cost {credits_text(estimate)} exceeds the available "
            f"balance {credits_text(available)} (balance {credits_text(credits)}, held by "
            f"unfinished jobs {credits_text(held)})",
            details={
                "estimate": credits_json(estimate),
                "balance": credits_json(credits),
                "held": credits_json(held),
                "available": credits_json(available),
            },
        )


def charge(status: Status, cost_actual: Decimal | None, cost_estimate: Decimal) -> Decimal:
    """What a job that ended with ``status`` is charged: its cost, capped by the estimate it
    held, when it succeeded; nothing when it was canceled or failed."""
    if status is not Status.SUCCEEDED:
        return Decimal(0)
    return min(cost_actual or Decimal(0), cost_estimate)
