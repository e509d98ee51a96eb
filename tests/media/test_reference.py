"""References judged without the network: schemes, URLs, ``data:`` URIs, and images decoded
from their header on."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from PIL import Image

from genq.media.fetch import fetch_bytes, fetch_image
from genq.media.reference import check_reference
from genq.models.base import InputError
from tests.media.images import LIMIT, PNG, data_uri, encoded
from tests.media.network import FakeDNS

# --- references that are not fetched ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("file:///etc/passwd", "only http://, https:// and data: references are accepted"),
        ("ftp://example.com/cat.png", "only http://, https:// and data: references"),
        ("gopher://example.com/", "only http://, https:// and data: references"),
        ("javascript:alert(1)", "only http://, https:// and data: references"),
        ("example.com/cat.png", "only http://, https:// and data: references"),
        ("http://user:secret@example.com/cat.png", "URLs with credentials are not accepted"),
        ("http://[::1/cat.png", "not a valid URL"),
        ("http:///cat.png", "the URL has no host"),
    ],
)
def test_references_that_are_not_http_urls_are_refused(dns: FakeDNS, ref: str, reason: str) -> None:
    """Other schemes, credentials and malformed URLs are refused without a lookup."""
    with pytest.raises(InputError) as refused:
        fetch_bytes(ref, max_bytes=LIMIT)
    assert str(refused.value).startswith(f"cannot fetch {ref}: {reason}")
    assert dns.lookups == []


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("hello", "only http://, https:// and data: references are accepted"),
        ("file:///etc/passwd", "only http://, https:// and data: references are accepted"),
        ("HTTPS://user:secret@example.com/cat.png", "URLs with credentials are not accepted"),
        ("https://[::1/cat.png", "not a valid URL"),
        ("https:///cat.png", "the URL has no host"),
        ("data:image/png;base64,iVBOR!!w0KGgo", "its base64 data is not valid"),
        ("data:image/png;base64", "a data: URI needs a comma before its data"),
        ("data:text/plain,hello", "not an image (text/plain)"),
    ],
)
def test_check_reference_refuses_what_no_fetch_could_use(
    dns: FakeDNS, ref: str, reason: str
) -> None:
    """The check made at submit refuses bad schemes, URLs and data: URIs with the bare reason
    (the caller names the field), without a lookup."""
    with pytest.raises(InputError) as refused:
        check_reference(ref)
    assert str(refused.value).startswith(reason)
    assert dns.lookups == []


@pytest.mark.parametrize(
    "ref",
    [
        "https://intranet.test/cat.png",
        " http://127.0.0.1:9/cat.png ",
        "DATA:image/png;base64," + base64.b64encode(PNG).decode(),
    ],
)
def test_check_reference_leaves_addresses_to_the_fetch(dns: FakeDNS, ref: str) -> None:
    """http(s) URLs pass whatever their host (no lookup: addresses are the worker's to check),
    and so do data: URIs that hold an image."""
    check_reference(ref)
    assert dns.lookups == []


# --- data: URIs ------------------------------------------------------------------------------


def test_png_data_uri_is_decoded() -> None:
    """A base64 PNG data URI gives the image."""
    image = fetch_image(data_uri(PNG), max_bytes=LIMIT)
    assert (image.mode, image.size) == ("RGB", (40, 30))


def test_data_uri_without_padding_or_with_line_breaks_is_accepted() -> None:
    """Hand-made data URIs often lack base64 padding or are wrapped; both are fine."""
    text = base64.b64encode(PNG).decode().rstrip("=")
    wrapped = "\n".join(text[i : i + 60] for i in range(0, len(text), 60))
    assert fetch_bytes(f"data:image/png;base64,{wrapped}", max_bytes=LIMIT).data == PNG


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("data:image/png;base64,iVBOR!!w0KGgo", "its base64 data is not valid"),
        ("data:image/png;base64", "a data: URI needs a comma before its data"),
        ("data:text/plain,hello", r"not an image \(text/plain\)"),
        (data_uri(b"GIF89a" + bytes(LIMIT)), "larger than the 64 KiB limit"),
        ("data:image/png," + "%00" * (LIMIT + 1), "larger than the 64 KiB limit"),
    ],
)
def test_bad_data_uris_are_refused(ref: str, reason: str) -> None:
    """Bad base64, a missing comma, non-images and oversized data are refused."""
    with pytest.raises(InputError, match=reason):
        fetch_bytes(ref, max_bytes=LIMIT)


def test_long_data_uri_is_shortened_in_messages() -> None:
    """A refused data URI is named by its start and length, not quoted whole."""
    ref = data_uri(b"GIF89a" + bytes(LIMIT))
    with pytest.raises(InputError) as refused:
        fetch_bytes(ref, max_bytes=LIMIT)
    message = str(refused.value)
    assert message.startswith(f"cannot fetch {ref[:80]}... ({len(ref)} characters): larger")
    assert len(message) < 200


# --- decoding --------------------------------------------------------------------------------


def test_corrupt_image_is_refused() -> None:
    """Bytes that start like a PNG but do not decode are refused by fetch_image."""
    broken = PNG[:40] + bytes(30)
    assert fetch_bytes(data_uri(broken), max_bytes=LIMIT).content_type == "image/png"
    with pytest.raises(InputError, match=r"^cannot use data:.*: not a readable image"):
        fetch_image(data_uri(broken), max_bytes=LIMIT)


@pytest.mark.parametrize("side", [12, 20])
def test_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    """Images over Pillow's pixel limit are refused, both in its warning band (an error
    here, as warnings are) and beyond twice the limit (always an error)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    ref = data_uri(encoded(Image.new("RGB", (side, side))))
    with pytest.raises(InputError, match="too many pixels"):
        fetch_image(ref, max_bytes=LIMIT)


def test_pixel_limit_holds_where_pillow_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the decompression bomb warning is only a warning, the image is still refused."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    ref = data_uri(encoded(Image.new("RGB", (12, 12))))
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(InputError, match="12x12 is more than the 100 pixels allowed"),
    ):
        fetch_image(ref, max_bytes=LIMIT)


def test_too_many_pixels_are_refused_from_the_header() -> None:
    """An image over max_pixels is refused by the size its header gives: a PNG cut off right
    after its header, which no decoder could read, is refused for its pixels, not for that."""
    # The signature, IHDR and the next chunk's length and type.
    header = encoded(Image.new("1", (9400, 9400), 1))[:41]
    with pytest.raises(InputError, match="9400x9400 is more than the 25000000 pixels allowed"):
        fetch_image(data_uri(header), max_bytes=LIMIT)
    ref = data_uri(encoded(Image.new("RGB", (100, 100))))
    with pytest.raises(InputError, match="100x100 is more than the 9999 pixels allowed"):
        fetch_image(ref, max_bytes=LIMIT, max_pixels=9999)
    assert fetch_image(ref, max_bytes=LIMIT, max_pixels=10_000).size == (100, 100)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_images_are_resized_to_the_size_asked_for(fmt: str) -> None:
    """With a size, the image comes back at exactly that size, in RGB."""
    ref = data_uri(encoded(Image.new("RGB", (1200, 900), (10, 120, 240)), fmt))
    image = fetch_image(ref, max_bytes=LIMIT, size=(64, 40))
    assert (image.mode, image.size) == ("RGB", (64, 40))
    assert image.getpixel((32, 20)) == pytest.approx((10, 120, 240), abs=12)


def test_a_size_function_sees_the_upright_size() -> None:
    """A size function gets the picture's upright size, and its answer is the upright one."""
    photo = Image.new("RGB", (400, 200))
    exif = photo.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    seen: list[tuple[int, int]] = []

    def half(width: int, height: int) -> tuple[int, int]:
        seen.append((width, height))
        return width // 2, height // 2

    image = fetch_image(data_uri(encoded(photo, "JPEG", exif=exif)), max_bytes=LIMIT, size=half)
    assert seen == [(200, 400)]
    assert image.size == (100, 200)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG shrunk to a fraction of its size is decoded at 1/8 scale, not at full size."""
    from PIL import JpegImagePlugin

    drafts: list[Any] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: str | None, size: tuple[int, int] | None) -> Any:
        drafts.append(result := draft(self, mode, size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    ref = data_uri(encoded(Image.new("RGB", (1600, 1200), "olive"), "JPEG"))
    assert fetch_image(ref, max_bytes=LIMIT, size=(100, 75)).size == (100, 75)
    assert [d[1] for d in drafts] == [(0, 0, 200, 150)]


@pytest.mark.parametrize(
    ("image", "fmt", "mode"),
    [
        (Image.new("RGBA", (8, 6), (1, 2, 3, 4)), "PNG", "RGBA"),
        (Image.new("L", (8, 6), 90), "PNG", "RGB"),
        (Image.new("RGB", (8, 6), (9, 9, 9)), "JPEG", "RGB"),
        (Image.new("RGBA", (8, 6), (1, 2, 3, 4)), "WEBP", "RGBA"),
        (Image.new("P", (8, 6)), "GIF", "RGB"),
    ],
)
def test_images_come_back_as_rgb_or_rgba(image: Image.Image, fmt: str, mode: str) -> None:
    """Every accepted format decodes to RGB, or RGBA where it has transparency."""
    decoded = fetch_image(data_uri(encoded(image, fmt)), max_bytes=LIMIT)
    assert (decoded.mode, decoded.size) == (mode, (8, 6))


def test_animated_gif_gives_its_first_frame() -> None:
    """An animation is read as its first frame."""
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    image = fetch_image(data_uri(gif, "image/gif"), max_bytes=LIMIT)
    assert image.getpixel((0, 0)) == (255, 0, 0)


def test_exif_orientation_is_applied() -> None:
    """A photo stored sideways with an EXIF orientation comes back upright."""
    photo = Image.new("RGB", (40, 20))
    exif = photo.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = fetch_image(data_uri(encoded(photo, "JPEG", exif=exif)), max_bytes=LIMIT)
    assert image.size == (20, 40)
