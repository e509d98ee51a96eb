"""What the writers share: the ``Written`` they return, the entries of their format tables,
and the suffix a path gets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genq.models.base import RunContext


@dataclass(frozen=True)
class Written:
    """A file a writer made, with the metadata ``RunContext.add_output`` takes."""

    path: Path
    content_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None

    def add_to(self, ctx: RunContext) -> None:
        """Publish the file as an output of ``ctx``'s job, with its metadata."""
        ctx.add_output(
            self.path,
            self.content_type,
            width=self.width,
            height=self.height,
            duration=self.duration,
        )


@dataclass(frozen=True)
class Format:
    """How one format is written: by which codec, as which content type and suffixes, with
    which options."""

    codec: str  # Pillow's format name or soundfile's major format
    content_type: str
    suffixes: tuple[str, ...]  # the first one is added to paths without one
    options: dict[str, Any]


def lookup(formats: dict[str, Format], fmt: str, kind: str) -> Format:
    """``fmt``'s entry in ``formats``; a ``ValueError`` naming the known ones otherwise."""
    try:
        return formats[fmt]
    except KeyError:
        raise ValueError(
            f"unknown {kind} format {fmt!r}; expected one of {', '.join(formats)}"
        ) from None


def with_suffix(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    """``path`` with the first of ``suffixes`` added, unless it ends with one of them."""
    path = Path(path)
    if path.suffix.lower() in suffixes:
        return path
    return path.with_name(path.name + suffixes[0])
