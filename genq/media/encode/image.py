"""Images: PNG, JPEG or WebP from a PIL image or an array of pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from genq.media.encode.files import Format, Written, lookup, with_suffix

ImageFormat = Literal["png", "jpeg", "webp"]

_IMAGE: dict[str, Format] = {
    # Speed matters more than the last few percent of size; none of these options add
    # timestamps or other run-dependent metadata, so the bytes depend on the pixels alone.
    # They are the options demo-image uses.
    "png": Format("PNG", "image/png", (".png",), {"compress_level": 1}),
    "jpeg": Format("JPEG", "image/jpeg", (".jpg", ".jpeg"), {"quality": 90}),
    "webp": Format("WEBP", "image/webp", (".webp",), {"quality": 90, "method": 2}),
}
IMAGE_FORMATS: tuple[str, ...] = tuple(_IMAGE)

# Modes written as they are; anything else (palette, CMYK, 16-bit, float) becomes RGB(A).
_PLAIN_MODES = ("RGB", "RGBA", "L", "LA")
# Composited under transparent pixels for JPEG, which has no alpha channel: white is how
# most viewers show transparency, and dropping alpha would reveal whatever colour the
# transparent pixels happen to hold (often black).
_JPEG_BACKGROUND = (255, 255, 255)


def save_image(
    image: Image.Image | np.ndarray, path: str | Path, fmt: ImageFormat = "png"
) -> Written:
    """Write ``image`` as PNG, JPEG or WebP to ``path`` plus the format's suffix.

    ``image`` is a PIL image or an array of shape (height, width) or (height, width, 1, 3
    or 4), ``uint8`` or float in [0, 1] (values outside are clipped).
    """
    spec = lookup(_IMAGE, fmt, "image")
    picture = _for_format(_as_picture(image), fmt)
    target = with_suffix(path, spec.suffixes)
    picture.save(target, spec.codec, **spec.options)
    return Written(target, spec.content_type, width=picture.width, height=picture.height)


def _as_picture(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    pixels = to_uint8(np.asarray(image))
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4)):
        return Image.fromarray(np.ascontiguousarray(pixels))
    hint = ""
    if pixels.ndim == 3 and pixels.shape[0] in (1, 3, 4):
        hint = "; it looks channel-first: transpose it to (height, width, channels)"
    raise ValueError(
        f"expected an image array of shape (height, width[, 1, 3 or 4]), got {pixels.shape}" + hint
    )


def _for_format(picture: Image.Image, fmt: str) -> Image.Image:
    if fmt == "jpeg":
        if picture.has_transparency_data:
            rgba = picture.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (*_JPEG_BACKGROUND, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return picture if picture.mode in ("RGB", "L") else picture.convert("RGB")
    if picture.mode in _PLAIN_MODES:
        return picture
    return picture.convert("RGBA" if picture.has_transparency_data else "RGB")


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """``uint8`` pixels from ``uint8`` or float-in-[0, 1] ones."""
    if pixels.dtype == np.uint8:
        return pixels
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ValueError(f"expected uint8 pixels or floats in [0, 1], got {pixels.dtype}")
    # A half-precision VAE can overflow into NaN; black is a better picture of that than
    # whatever the cast would make of it (and the cast would warn).
    values = np.nan_to_num(pixels.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    # Rounded as diffusers' own numpy_to_pil does, so both give the same bytes.
    return np.rint(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
