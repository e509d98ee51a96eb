"""``Retry-After`` as one attempt reads it: seconds in ASCII digits or an HTTP date with its
zone; anything else is ignored, never an error."""

from __future__ import annotations

import pytest

from genq.service.webhook_send import retry_after

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("\u00b2", None),
        ("\u0663", None),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:30 -0000", None),
        ("Wed, 21 Oct 99999 07:28:30 GMT", None),
    ],
)
def test_retry_after_reads_seconds_and_dates_only(value: str | None, seconds: float) -> None:
    """Digits that are not ASCII, dates without a zone, and junk give None."""
    assert retry_after(value, NOW) == seconds
