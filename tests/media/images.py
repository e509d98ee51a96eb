"""Pictures for the media tests, and the ways a test hands a reference over."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

#: The byte limit the tests fetch under.
LIMIT = 64 * 1024


def encoded(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


PNG = encoded(Image.new("RGB", (40, 30), (200, 30, 10)))


def data_uri(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def gradient(width: int, height: int) -> np.ndarray:
    """An RGB uint8 picture whose pixels all differ a little, so codecs have work to do."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)
    rgb = np.empty((height, width, 3), dtype=np.float32)
    rgb[..., 0] = x[None, :]
    rgb[..., 1] = y[:, None]
    rgb[..., 2] = 128
    return rgb.astype(np.uint8)
