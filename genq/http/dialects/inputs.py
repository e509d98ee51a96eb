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

#: Named image sizes (``landscape_16_9``; some vendors pass them through), as width x height.
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
    # Vendors send null for "not set".
    given = {name: value for name, value in fields.items() if value is not None}
    translation = _Translation(given, target.model.input_schema.get("properties", {}))
    translation.common_fields()
    translation.media_fields(root)
    translation.same_names()
    lost = translation.lost
    if strict and lost:
        raise ValidationFailed(
            f"invalid input: {target.name} has no input for {', '.join(lost)}",
            details=[
                {"path": path(root, name), "message": f"{target.name} has no input for it"}
                for name in lost
            ],
        )
    return translation.out


class _Translation:
    """One request's fields on their way to a model's input: what was read, written, lost."""

    def __init__(self, fields: dict[str, Any], props: dict[str, Any]) -> None:
        self.fields = fields
        self.props = props
        self.out: dict[str, Any] = {}
        self.used: set[str] = set()
        #: Fields read, but with no place in this model's input.
        self.lost: list[str] = []

    def take(self, names: tuple[str, ...]) -> tuple[str, Any] | None:
        """The first of ``names`` the request has, and its value."""
        for name in names:
            if name in self.fields:
                self.used.add(name)
                return name, self.fields[name]
        return None

    def put(self, names: tuple[str, ...], value: Any, source: str) -> None:
        """Write the value under the first of ``names`` the model has."""
        for name in names:
            if name in self.props:
                self.out[name] = value
                return
        self.lost.append(source)

    def common_fields(self) -> None:
        """Prompts, seed, count, steps, guidance and the reference image."""
        for name in ("prompt", "negative_prompt"):
            if found := self.take((name,)):
                self.put((name,), found[1], name)
        if (found := self.take(("seed",))) and found[1] not in RANDOM_SEEDS:
            self.put(("seed",), found[1], "seed")
        if found := self.take(COUNT_FIELDS):
            self.put(("num_images", "num_outputs", "n"), found[1], found[0])
        if found := self.take(STEP_FIELDS):
            self.put(("steps", "num_inference_steps"), found[1], found[0])
        if found := self.take(GUIDANCE_FIELDS):
            self.put(("guidance", "guidance_scale"), found[1], found[0])
        if found := self.take(IMAGE_FIELDS):
            name, value = found
            if isinstance(value, list):
                value = value[0] if value else None
            if value is not None:
                self.put(("image", "image_url"), value, name)

    def media_fields(self, root: str) -> None:
        """The file format, the picture's shape and the duration."""
        if found := self.take(("output_format",)):
            wanted = str(found[1]).lower()
            wanted = "jpeg" if wanted == "jpg" else wanted
            if wanted in self.props.get("output_format", {}).get("enum", ()):
                self.out["output_format"] = wanted
            else:
                self.lost.append("output_format")
        shape_fields = [name for name in SHAPE_FIELDS if name in self.fields]
        if shape_fields:
            self.used.update(shape_fields)
            shape = _shape(self.fields, self.props, root)
            if not shape:
                self.lost.extend(shape_fields)
            self.out.update(shape)
        if found := self.take(("duration",)):
            duration = _duration(found[1], self.props, root)
            if not duration:
                self.lost.append("duration")
            self.out.update(duration)

    def same_names(self) -> None:
        """The fields not read yet pass under their own names, when the model has them."""
        for name, value in self.fields.items():
            if name in self.used:
                continue
            if name in self.props:
                self.out[name] = value
            else:
                self.lost.append(name)


def path(root: str, name: str) -> str:
    return f"{root}/{name}" if root else name


def _shape(fields: dict[str, Any], props: dict[str, Any], root: str) -> dict[str, Any]:
    """Width and height, or an aspect ratio, from whichever shape fields the request has."""
    ratio, pixels = _size(fields, root)
    if isinstance(fields.get("aspect_ratio"), str):
        ratio = _ratio(fields["aspect_ratio"], path(root, "aspect_ratio"))
    longer, shorter = _resolution(fields.get("resolution"), root)
    pixels = _width_and_height(fields, root) or pixels
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
        pixels = _scaled(ratio, longer, shorter)
    if pixels is not None and "width" in props and "height" in props:
        return dict(zip(("width", "height"), _fit(pixels, props["width"]), strict=True))
    choices = props.get("aspect_ratio", {}).get("enum")
    if not choices:
        return sides
    nearest = min(choices, key=lambda c: abs(math.log(_ratio(c, "") / ratio)))
    return {**sides, "aspect_ratio": nearest}


def _size(fields: dict[str, Any], root: str) -> tuple[float | None, tuple[int, int] | None]:
    """The aspect ratio or the pixels ``image_size`` (or ``size``) asks for."""
    size = fields.get("image_size", fields.get("size"))
    where = path(root, "image_size" if "image_size" in fields else "size")
    pixels: tuple[int, int] | None = None
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
            return _ratio(size, where), None
        else:
            raise invalid(
                where, f"{size!r} is not a size: use W:H, WxH or {', '.join(NAMED_SIZES)}"
            )
    if pixels is not None and min(pixels) <= 0:
        raise invalid(where, "the width and height must be positive")
    return None, pixels


def _resolution(resolution: Any, root: str) -> tuple[int | None, int | None]:
    """The longer side a ``"2K"``-style resolution asks for, or the shorter one a ``720``
    (or ``"720p"``) does."""
    if resolution is None:
        return None, None
    text = str(resolution).strip().upper()
    if text in K_RESOLUTIONS:
        return K_RESOLUTIONS[text], None
    if (match := _LINES.match(text)) and int(match[1]) > 0:
        return None, int(match[1])
    raise invalid(path(root, "resolution"), f"{resolution!r} is not a resolution")


def _width_and_height(fields: dict[str, Any], root: str) -> tuple[int, int] | None:
    width, height = fields.get("width"), fields.get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        return None
    if width <= 0 or height <= 0:
        raise invalid(path(root, "width" if width <= 0 else "height"), "must be positive")
    return width, height


def _scaled(ratio: float, longer: int | None, shorter: int | None) -> tuple[int, int]:
    """Width and height of the given shape whose longer (or shorter) side is given."""
    if longer:
        return (longer, round(longer / ratio)) if ratio >= 1 else (round(longer * ratio), longer)
    assert shorter is not None
    return (round(shorter * ratio), shorter) if ratio >= 1 else (shorter, round(shorter / ratio))


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
