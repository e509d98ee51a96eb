"""Positions in the native API: the opaque cursors of listings, the id of an event."""

from __future__ import annotations

import base64
import re

from genq.errors import ValidationFailed

#: Ids and positions that SQLite's 64-bit integers can hold, in ASCII digits only.
DECIMAL_ID = re.compile(r"[0-9]{1,18}")


def encode_cursor(seq: int) -> str:
    """The cursor of a listing page that ends at the job with sequence number ``seq``."""
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence number a cursor carries; 422 for text that no listing handed out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s") or not DECIMAL_ID.fullmatch(text[1:]):
            raise ValueError(cursor)
        return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "invalid cursor", details=[{"path": "cursor", "message": "not a cursor"}]
        ) from None


def encode_position(created_at: float, id: str) -> str:
    """The cursor of a listing page that ends at the row made at ``created_at`` with ``id``
    (a position that stays valid when that row is deleted)."""
    return base64.urlsafe_b64encode(f"p{created_at!r} {id}".encode()).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[float, str]:
    """The ``(created_at, id)`` a cursor of ``encode_position`` carries; 422 otherwise."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, id = text.removeprefix("p").partition(" ")
        if not text.startswith("p") or not id or "\x00" in id:
            raise ValueError(cursor)
        created_at = float(at)
        if created_at != created_at or created_at in (float("inf"), float("-inf")):
            raise ValueError(cursor)
        return created_at, id
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "invalid cursor", details=[{"path": "cursor", "message": "not a cursor"}]
        ) from None
