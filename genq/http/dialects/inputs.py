"""From a vendor request's fields to a local model's inputs.

Vendors name the same ideas differently: how many results (``num_images``, ``n``,
``image_number``), the picture's shape (``image_size: "landscape_4_3"``, ``size: "16:9"``,
``aspect_ratio``, ``resolution: "2K"`` or ``720``), steps, guidance. ``model_input`` reads
those conventions and writes what the target model's input schema has: its own names, its
own limits. A field the model has under the same name passes as it is; any other field is
left out (``strict=False``) or refused, naming it (``strict=True``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from genq.errors import ValidationFailed
from genq.models.registry import RegisteredModel

#: fal-style named sizes (some vendors pass them through), as width x height.
NAMED_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
#: ``"1K"``-style resolutions: the longer side.
K_RESOLUTIONS = {"1K": 1024, "2K": 2048, "4K": 4096}

COUNT_FIELDS = ("num_images", "n", "image_number", "num_outputs", "batch_size", "samples")
STEP_FIELDS = ("num_inference_steps", "steps")
GUIDANCE_FIELDS = ("guidance_scale", "guidance", "cfg_scale", "cfg")
IMAGE_FIELDS = ("image", "image_url", "input_image", "init_image", "image_urls")
SHAPE_FIELDS = ("image_size", "size", "aspect_ratio", "resolution", "width", "height")
#: Values vendors use for "pick a seed for me".
RANDOM_SEEDS = (-1, None)

_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_PIXELS = re.compile(r"^\s*(\d+)\s*[x*\u00d7]\s*(\d+)\s*$")
_LINES = re.compile(r"^\s*(\d+)\s*p?\s*$", re.IGNORECASE)


def invalid(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid input: {where}: {message}", details=[{"path": where, "message": message}]
    )


def model_input(
    fields: dict[str, Any], target: RegisteredModel, *, strict: bool = False, root: str = "input"
) -> dict[str, Any]:
    """The target model's input for a vendor request's ``fields`` (found under ``root`` in
    the request, for error paths)."""
    props: dict[str, Any] = target.model.input_schema.get("properties", {})
    # Vendors send null for "not set".
    fields = {name: value for name, value in fields.items() if value is not None}
    out: dict[str, Any] = {}
    used: set[str] = set()
    #: Fields read, but with no place in this model's input.
    lost: list[str] = []

    def take(names: tuple[str, ...]) -> tuple[str, Any] | None:
        for name in names:
            if name in fields:
                used.add(name)
                return name, fields[name]
        return None

    def put(names: tuple[str, ...], value: Any, source: str) -> None:
        for name in names:
            if name in props:
                out[name] = value
                return
        lost.append(source)

    for name in ("prompt", "negative_prompt"):
        if found := take((name,)):
            put((name,), found[1], name)
    if (found := take(("seed",))) and found[1] not in RANDOM_SEEDS:
        put(("seed",), found[1], "seed")
    if found := take(COUNT_FIELDS):
        put(("num_images", "num_outputs", "n"), found[1], found[0])
    if found := take(STEP_FIELDS):
        put(("steps", "num_inference_steps"), found[1], found[0])
    if found := take(GUIDANCE_FIELDS):
        put(("guidance", "guidance_scale"), found[1], found[0])
    if found := take(IMAGE_FIELDS):
        name, value = found
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            put(("image", "image_url"), value, name)
    if found := take(("output_format",)):
        wanted = str(found[1]).lower()
        wanted = "jpeg" if wanted == "jpg" else wanted
        if wanted in props.get("output_format", {}).get("enum", ()):
            out["output_format"] = wanted
        else:
            lost.append("output_format")
    shape_fields = [name for name in SHAPE_FIELDS if name in fields]
    if shape_fields:
        used.update(shape_fields)
        shape = _shape(fields, props, root)
        if not shape:
            lost.extend(shape_fields)
        out.update(shape)
    if found := take(("duration",)):
        duration = _duration(found[1], props, root)
        if not duration:
            lost.append("duration")
        out.update(duration)
    for name, value in fields.items():
        if name in used:
            continue
        if name in props:
            out[name] = value
        else:
            lost.append(name)
    if strict and lost:
        raise ValidationFailed(
            f"invalid input: {target.name} has no input for {', '.join(lost)}",
            details=[
                {"path": path(root, name), "message": f"{target.name} has no input for it"}
                for name in lost
            ],
        )
    return out


def path(root: str, name: str) -> str:
    return f"{root}/{name}" if root else name


def _shape(fields: dict[str, Any], props: dict[str, Any], root: str) -> dict[str, Any]:
    """Width and height, or an aspect ratio, from whichever shape fields the request has."""
    ratio: float | None = None
    pixels: tuple[int, int] | None = None
    longer: int | None = None
    shorter: int | None = None
    size = fields.get("image_size", fields.get("size"))
    where = path(root, "image_size" if "image_size" in fields else "size")
    if isinstance(size, dict):
        try:
            pixels = (int(size["width"]), int(size["height"]))
        except (KeyError, TypeError, ValueError):
            raise invalid(where, "expected {'width': W, 'height': H}") from None
    elif isinstance(size, str):
        if size in NAMED_SIZES:
            pixels = NAMED_SIZES[size]
        elif match := _PIXELS.match(size):
            pixels = (int(match[1]), int(match[2]))
        elif _RATIO.match(size):
            ratio = _ratio(size, where)
        else:
            raise invalid(
                where, f"{size!r} is not a size: use W:H, WxH or {', '.join(NAMED_SIZES)}"
            )
    if pixels is not None and min(pixels) <= 0:
        raise invalid(where, "the width and height must be positive")
    if isinstance(fields.get("aspect_ratio"), str):
        ratio = _ratio(fields["aspect_ratio"], path(root, "aspect_ratio"))
    resolution = fields.get("resolution")
    if resolution is not None:
        text = str(resolution).strip().upper()
        if text in K_RESOLUTIONS:
            longer = K_RESOLUTIONS[text]
        elif (match := _LINES.match(text)) and int(match[1]) > 0:
            shorter = int(match[1])
        else:
            raise invalid(path(root, "resolution"), f"{resolution!r} is not a resolution")
    width, height = fields.get("width"), fields.get("height")
    if isinstance(width, int) and isinstance(height, int):
        if width <= 0 or height <= 0:
            raise invalid(path(root, "width" if width <= 0 else "height"), "must be positive")
        pixels = (width, height)
    if pixels is not None:
        ratio = pixels[0] / pixels[1]
    # A single side passes as it is, when the model takes it.
    sides: dict[str, Any] = {
        n: fields[n] for n in ("width", "height") if n in fields and n in props
    }
    if pixels is not None:
        sides = {}
    if ratio is None:
        ratio = 1.0 if (longer or shorter) else None
    if ratio is None:
        return sides
    if pixels is None and (longer or shorter):
        if longer:
            pixels = (
                (longer, round(longer / ratio)) if ratio >= 1 else (round(longer * ratio), longer)
            )
        else:
            assert shorter is not None
            pixels = (
                (round(shorter * ratio), shorter)
                if ratio >= 1
                else (shorter, round(shorter / ratio))
            )
    if pixels is not None and "width" in props and "height" in props:
        return dict(zip(("width", "height"), _fit(pixels, props["width"]), strict=True))
    choices = props.get("aspect_ratio", {}).get("enum")
    if not choices:
        return sides
    nearest = min(choices, key=lambda c: abs(math.log(_ratio(c, "") / ratio)))
    return {**sides, "aspect_ratio": nearest}


def _ratio(text: str, where: str) -> float:
    match = _RATIO.match(text)
    if not match or float(match[2]) == 0 or float(match[1]) == 0:
        raise invalid(where, f"{text!r} is not an aspect ratio such as 16:9")
    return float(match[1]) / float(match[2])


def _fit(pixels: tuple[int, int], side: dict[str, Any]) -> tuple[int, int]:
    """The size scaled down (keeping its shape) to the model's largest side, rounded to the
    multiple its sides must be."""
    width, height = pixels
    largest = side.get("maximum")
    if largest and max(width, height) > largest:
        scale = largest / max(width, height)
        width, height = width * scale, height * scale
    step = side.get("multipleOf", 1)
    smallest = max(side.get("minimum", 1), step)

    def snap(value: float) -> int:
        snapped = max(smallest, round(value / step) * step)
        return min(snapped, largest) if largest else snapped

    return snap(width), snap(height)


def _duration(value: Any, props: dict[str, Any], root: str) -> dict[str, Any]:
    """Seconds (``5``, ``"5"``, ``"5s"``) as the model's duration or as frames at its fps."""
    try:
        seconds = float(str(value).strip().removesuffix("s"))
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise invalid(path(root, "duration"), f"{value!r} is not a number of seconds")
    if "duration" in props:
        return {"duration": int(seconds) if seconds.is_integer() else seconds}
    if "num_frames" in props:
        fps = props.get("fps", {}).get("default", 24)
        return {"num_frames": max(1, round(seconds * fps))}
    return {}
