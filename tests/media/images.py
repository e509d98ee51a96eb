"""Reference images and the ways a test hands them over."""

from __future__ import annotations

import base64
import io
from typing import Any

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
