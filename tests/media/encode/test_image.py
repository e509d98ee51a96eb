"""The image writer: every file is decoded back and checked against what it said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genq.media.encode import Written, save_image
from tests.media.images import gradient


@pytest.mark.parametrize(
    ("fmt", "pil_format", "content_type", "suffix"),
    [
        ("png", "PNG", "image/png", ".png"),
        ("jpeg", "JPEG", "image/jpeg", ".jpg"),
        ("webp", "WEBP", "image/webp", ".webp"),
    ],
)
def test_image_is_written_in_the_format_with_its_suffix(
    tmp_path: Path, fmt: Any, pil_format: str, content_type: str, suffix: str
) -> None:
    """save_image adds the format's suffix and reports the type and size it wrote."""
    written = save_image(Image.fromarray(gradient(120, 80)), tmp_path / "image", fmt)
    assert written == Written(tmp_path / f"image{suffix}", content_type, 120, 80, None)
    with Image.open(written.path) as image:
        assert image.format == pil_format
        assert image.size == (120, 80)
        assert image.mode == "RGB"


@pytest.mark.parametrize("name", ["image.png", "image.PNG"])
def test_image_path_with_the_suffix_is_used_as_it_is(tmp_path: Path, name: str) -> None:
    """A path that already ends with the format's suffix gets no second one."""
    written = save_image(gradient(8, 8), tmp_path / name, "png")
    assert written.path == tmp_path / name
    assert written.path.exists()


def test_image_from_uint8_array_keeps_the_pixels(tmp_path: Path) -> None:
    """A uint8 HWC array is written pixel for pixel (PNG is lossless)."""
    pixels = gradient(33, 17)
    written = save_image(pixels, tmp_path / "image")
    with Image.open(written.path) as image:
        np.testing.assert_array_equal(np.asarray(image), pixels)
    assert (written.width, written.height) == (33, 17)


def test_image_from_float_array_is_scaled_rounded_and_clipped(tmp_path: Path) -> None:
    """Floats in [0, 1] become round(value * 255); values outside and NaN are clipped."""
    pixels = np.array(
        [[[0.0, 0.5, 1.0], [-0.2, 1.7, 0.25]], [[np.nan, 0.1, 0.9], [1.0, 1.0, 1.0]]],
        dtype=np.float32,
    )
    written = save_image(pixels, tmp_path / "image")
    with Image.open(written.path) as image:
        decoded = np.asarray(image)
    expected = [[[0, 128, 255], [0, 255, 64]], [[0, 26, 230], [255, 255, 255]]]
    np.testing.assert_array_equal(decoded, np.array(expected, dtype=np.uint8))


@pytest.mark.parametrize(
    ("shape", "mode"),
    [((10, 12), "L"), ((10, 12, 1), "L"), ((10, 12, 3), "RGB"), ((10, 12, 4), "RGBA")],
)
def test_image_array_channels_pick_the_mode(
    tmp_path: Path, shape: tuple[int, ...], mode: str
) -> None:
    """Grayscale, RGB and RGBA arrays keep their channels in PNG."""
    written = save_image(np.full(shape, 200, dtype=np.uint8), tmp_path / "image")
    with Image.open(written.path) as image:
        assert image.mode == mode
        assert image.size == (12, 10)


def test_rgba_to_jpeg_is_composited_on_white(tmp_path: Path) -> None:
    """JPEG has no alpha: transparent pixels come out white, opaque ones keep their colour."""
    rgba = np.zeros((32, 64, 4), dtype=np.uint8)
    rgba[:, 32:] = (200, 0, 0, 255)  # right half opaque red, left half transparent black
    written = save_image(rgba, tmp_path / "image", "jpeg")
    with Image.open(written.path) as image:
        assert image.mode == "RGB"
        decoded = np.asarray(image).astype(int)
    assert (decoded[:, :24] > 240).all(), "transparent pixels are not white"
    assert np.abs(decoded[:, 40:] - (200, 0, 0)).max() < 16


def test_palette_image_with_transparency_keeps_it_in_png(tmp_path: Path) -> None:
    """A palette image with a transparent colour is written as RGBA."""
    picture = Image.new("P", (4, 4), 1)
    picture.info["transparency"] = 1
    written = save_image(picture, tmp_path / "image", "png")
    with Image.open(written.path) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_image_bytes_depend_on_the_pixels_alone(tmp_path: Path, fmt: Any) -> None:
    """Writing the same pixels twice gives identical bytes (no timestamps)."""
    pixels = gradient(64, 48)
    first = save_image(pixels, tmp_path / "a", fmt)
    second = save_image(pixels, tmp_path / "b", fmt)
    assert first.path.read_bytes() == second.path.read_bytes()


@pytest.mark.parametrize(
    ("pixels", "fmt", "message"),
    [
        (np.zeros((3, 8, 8), dtype=np.uint8), "png", "channel-first"),
        (np.zeros((8, 8, 2), dtype=np.uint8), "png", "shape"),
        (np.zeros((8, 8, 3), dtype=np.int64), "png", "int64"),
        (np.zeros((8, 8, 3), dtype=np.uint8), "bmp", "unknown image format 'bmp'"),
    ],
)
def test_image_refuses_what_it_cannot_write(
    tmp_path: Path, pixels: np.ndarray, fmt: Any, message: str
) -> None:
    """Wrong shapes, dtypes and formats raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        save_image(pixels, tmp_path / "image", fmt)
