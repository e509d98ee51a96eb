"""What model inputs mean across genq's models: aspect ratios and the sizes they give, and
seeds (a job without one gets its prompt's own, so that the same request makes the same
output). The runtimes and the demo models share them; a plug-in model may use them too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

ASPECT_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9")

SEED_MAX = 2**32 - 1


def ratio_value(aspect_ratio: str) -> float:
    """Width over height of an ``"W:H"`` string."""
    w, _, h = aspect_ratio.partition(":")
    return int(w) / int(h)


def size_for_ratio(aspect_ratio: str, longer: int, multiple: int = 1) -> tuple[int, int]:
    """Width and height with the given aspect ratio whose longer side is ``longer``, both
    rounded to ``multiple`` (video encoders want even sizes for 4:2:0 chroma)."""
    ratio = ratio_value(aspect_ratio)
    if ratio >= 1:
        width, height = float(longer), longer / ratio
    else:
        width, height = longer * ratio, float(longer)
    return _round_to(width, multiple), _round_to(height, multiple)


def resolve_size(
    width: int | None,
    height: int | None,
    aspect_ratio: str | None,
    *,
    longer: int,
    lower: int,
    upper: int,
) -> tuple[int, int]:
    """The output size: explicit sides win; a missing side follows the aspect ratio (square
    when there is none); with neither side the longer one is ``longer``."""
    ratio = ratio_value(aspect_ratio) if aspect_ratio else 1.0
    if width is not None and height is not None:
        return width, height
    if width is not None:
        return width, _clamp(round(width / ratio), lower, upper)
    if height is not None:
        return _clamp(round(height * ratio), lower, upper), height
    return size_for_ratio(aspect_ratio or "1:1", longer)


def stable_seed(*parts: object) -> int:
    """A 64-bit number from ``parts`` that is the same in every process (``hash()`` on strings
    is salted per process, so it cannot make outputs reproducible)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def default_seed(prompt: str) -> int:
    """The seed used when the input has none: fixed per prompt, within the schema's range."""
    return stable_seed("seed", prompt) % (SEED_MAX + 1)


def chosen_seed(params: dict[str, Any], log: Callable[[str], None]) -> int:
    """The input's seed, or the prompt's own (logged, so that the run can be repeated)."""
    seed: int | None = params.get("seed")
    if seed is None:
        seed = default_seed(params["prompt"])
        log(f"seed {seed} (from the prompt)")
    return seed


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def _clamp(value: int, lower: int, upper: int) -> int:
    return max(lower, min(upper, value))
