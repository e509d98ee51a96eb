"""The output writers: every file is decoded back and checked against what the writer said."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genq.media.encode import (
    VideoWriter,
    Written,
    save_image,
    write_audio,
    write_video,
)


def gradient(width: int, height: int) -> np.ndarray:
    """An RGB uint8 picture whose pixels all differ a little, so codecs have work to do."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)
    rgb = np.empty((height, width, 3), dtype=np.float32)
    rgb[..., 0] = x[None, :]
    rgb[..., 1] = y[:, None]
    rgb[..., 2] = 128
    return rgb.astype(np.uint8)


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    """A 440 Hz sine at half scale, shape (samples, channels), float32."""
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([wave] * channels, axis=1).astype(np.float32)


def test_writers_do_not_import_pyav_or_soundfile() -> None:
    """Importing the module (as the API process does) loads neither PyAV nor soundfile."""
    code = "import sys, genq.media.encode\nprint(sorted({'av', 'soundfile'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- images ----------------------------------------------------------------------------------


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


# --- video -----------------------------------------------------------------------------------


def frames_of(count: int, width: int, height: int) -> np.ndarray:
    """``count`` frames of a gradient that shifts a little each frame, (T, H, W, 3) uint8."""
    base = gradient(width, height)
    return np.stack([np.roll(base, 3 * i, axis=1) for i in range(count)])


def probe(path: Path) -> dict[str, Any]:
    """What a decoder sees in an MP4: codec, pixel format, rate, size, frames, duration."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return {
            "format": container.format.name,
            "codec": stream.codec_context.name,
            "pix_fmt": frames[0].format.name,
            "rate": stream.average_rate,
            "size": (frames[0].width, frames[0].height),
            "frames": len(frames),
            "duration": (container.duration or 0) / 1_000_000,
            "first": frames[0].to_ndarray(format="rgb24"),
        }


@pytest.mark.parametrize("kind", ["uint8 array", "float array", "list of images", "list of arrays"])
def test_video_is_h264_yuv420p_mp4_of_the_frames(tmp_path: Path, kind: str) -> None:
    """write_video takes an array or a list of frames and writes exactly those frames."""
    pytest.importorskip("av")
    pixels = frames_of(12, 96, 64)
    frames: Any = {
        "uint8 array": pixels,
        "float array": pixels.astype(np.float32) / 255,
        "list of images": [Image.fromarray(frame) for frame in pixels],
        "list of arrays": list(pixels),
    }[kind]
    written = write_video(frames, 12, tmp_path / "clip")
    assert written == Written(tmp_path / "clip.mp4", "video/mp4", 96, 64, 1.0)
    seen = probe(written.path)
    assert "mp4" in seen["format"]
    assert (seen["codec"], seen["pix_fmt"]) == ("h264", "yuv420p")
    assert seen["rate"] == 12
    assert (seen["size"], seen["frames"]) == ((96, 64), 12)
    assert seen["duration"] == pytest.approx(1.0, abs=1e-3)
    # Lossy, but the picture must survive: mean error of a few levels at most.
    assert np.abs(seen["first"].astype(int) - pixels[0]).mean() < 6


def test_video_odd_size_is_cropped_to_even(tmp_path: Path) -> None:
    """An odd width and height lose their last column and row; the result says so."""
    pytest.importorskip("av")
    pixels = frames_of(4, 97, 51)
    written = write_video(pixels, 8, tmp_path / "clip")
    assert (written.width, written.height) == (96, 50)
    seen = probe(written.path)
    assert seen["size"] == (96, 50)
    assert np.abs(seen["first"].astype(int) - pixels[0, :50, :96]).mean() < 6


@pytest.mark.parametrize(
    ("fps", "rate"),
    [
        (7.5, Fraction(15, 2)),
        (24000 / 1001, Fraction(24000, 1001)),
        (Fraction(30000, 1001), Fraction(30000, 1001)),
    ],
)
def test_video_fractional_frame_rate(tmp_path: Path, fps: float | Fraction, rate: Fraction) -> None:
    """Float and Fraction rates are kept exactly; the duration is frames / fps."""
    pytest.importorskip("av")
    written = write_video(frames_of(15, 32, 32), fps, tmp_path / "clip")
    assert written.duration == pytest.approx(float(15 / rate))
    seen = probe(written.path)
    assert seen["rate"] == rate
    assert seen["frames"] == 15
    assert seen["duration"] == pytest.approx(float(15 / rate), abs=1e-3)


def test_video_index_is_at_the_front(tmp_path: Path) -> None:
    """The moov atom comes before the media data (+faststart), so browsers stream it."""
    pytest.importorskip("av")
    data = write_video(frames_of(6, 32, 32), 6, tmp_path / "clip").path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_video_writer_encodes_frames_as_they_come(tmp_path: Path) -> None:
    """VideoWriter takes frames one by one and finish() is idempotent."""
    pytest.importorskip("av")
    with VideoWriter(tmp_path / "clip.mp4", fps=10) as video:
        for frame in frames_of(5, 48, 32):
            video.write(frame)
        assert video.frames == 5
    written = video.finish()
    assert written is video.finish()
    assert written == Written(tmp_path / "clip.mp4", "video/mp4", 48, 32, 0.5)
    assert probe(written.path)["frames"] == 5


def test_video_writer_closes_without_finishing_on_error(tmp_path: Path) -> None:
    """An exception in the block closes the file and propagates; the writer stays closed."""
    pytest.importorskip("av")
    video = VideoWriter(tmp_path / "clip", fps=10)

    def crash_midway() -> None:
        with video:
            video.write(frames_of(1, 32, 32)[0])
            raise RuntimeError("the model crashed")

    with pytest.raises(RuntimeError, match="the model crashed"):
        crash_midway()
    with pytest.raises(ValueError, match="closed unfinished"):
        video.finish()
    with pytest.raises(ValueError, match="closed"):
        video.write(frames_of(1, 32, 32)[0])


def test_video_refuses_frames_of_another_size_and_no_frames(tmp_path: Path) -> None:
    """Every frame must match the first one's size, and a video needs a frame."""
    pytest.importorskip("av")
    with pytest.raises(ValueError, match="frame 1 is 40x32, the video is 32x32"):
        write_video([gradient(32, 32), gradient(40, 32)], 10, tmp_path / "mixed")
    with pytest.raises(ValueError, match="no frames"):
        write_video([], 10, tmp_path / "empty")


@pytest.mark.parametrize(
    ("frames", "fps", "message"),
    [
        (np.zeros((8, 8, 3), dtype=np.uint8), 10, "frames, height, width, 3"),
        (np.zeros((2, 8, 8, 4), dtype=np.uint8), 10, "height, width, 3"),
        (np.zeros((2, 1, 8, 3), dtype=np.uint8), 10, "too small"),
        (np.zeros((2, 8, 8, 3), dtype=np.uint8), 0, "positive"),
    ],
)
def test_video_refuses_bad_frames_and_rates(
    tmp_path: Path, frames: np.ndarray, fps: float, message: str
) -> None:
    """Frames that are not (T, H, W, 3), too small to encode, or a rate <= 0 are refused."""
    pytest.importorskip("av")
    with pytest.raises(ValueError, match=message):
        write_video(frames, fps, tmp_path / "clip")


# --- audio -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "suffix"),
    [("wav", "audio/wav", ".wav"), ("flac", "audio/flac", ".flac"), ("mp3", "audio/mpeg", ".mp3")],
)
@pytest.mark.parametrize("layout", ["mono 1-D", "(samples, channels)", "(channels, samples)"])
def test_audio_formats_and_layouts(
    tmp_path: Path, fmt: Any, content_type: str, suffix: str, layout: str
) -> None:
    """Each format decodes to the written rate, channel count and length (MP3: within a
    frame of 1152 samples)."""
    soundfile = pytest.importorskip("soundfile")
    rate = 24_000
    stereo = tone(1.5, rate, channels=2)
    samples, channels = {
        "mono 1-D": (stereo[:, 0], 1),
        "(samples, channels)": (stereo, 2),
        "(channels, samples)": (stereo.T, 2),
    }[layout]
    written = write_audio(samples, rate, tmp_path / "sound", fmt)
    assert written == Written(tmp_path / f"sound{suffix}", content_type, duration=1.5)
    info = soundfile.info(written.path)
    decoded, decoded_rate = soundfile.read(written.path, dtype="float32", always_2d=True)
    assert (decoded_rate, info.channels) == (rate, channels)
    tolerance = 1152 if fmt == "mp3" else 0
    assert abs(len(decoded) - len(stereo)) <= tolerance
    # The tone itself survives, at about its level (RMS of a 0.5 sine is 0.354).
    assert float(np.sqrt(np.mean(decoded**2))) == pytest.approx(0.354, abs=0.02)


def test_mp3_is_mpeg_audio(tmp_path: Path) -> None:
    """An independent decoder (FFmpeg) sees MP3 audio of the written rate and length."""
    av = pytest.importorskip("av")
    pytest.importorskip("soundfile")
    written = write_audio(tone(1.0, 44_100, channels=2), 44_100, tmp_path / "sound", "mp3")
    with av.open(str(written.path)) as container:
        assert container.format.name == "mp3"
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")  # "mp3float" is FFmpeg's decoder
        assert stream.sample_rate == 44_100
        assert stream.channels == 2
        samples = sum(frame.samples for frame in container.decode(stream))
    assert abs(samples - 44_100) <= 2 * 1152


def test_wav_keeps_int16_samples_exactly(tmp_path: Path) -> None:
    """int16 samples are full-scale PCM and come back bit for bit."""
    soundfile = pytest.importorskip("soundfile")
    samples = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    written = write_audio(samples, 8000, tmp_path / "sound", "wav")
    decoded, _ = soundfile.read(written.path, dtype="int16")
    np.testing.assert_array_equal(decoded, samples)


def test_audio_floats_are_clipped(tmp_path: Path) -> None:
    """Float samples beyond [-1, 1] (and NaN) are clipped rather than wrapped around."""
    soundfile = pytest.importorskip("soundfile")
    samples = np.array([2.0, -3.0, 0.5, np.nan], dtype=np.float64)
    written = write_audio(samples, 8000, tmp_path / "sound", "wav")
    decoded, _ = soundfile.read(written.path, dtype="float32")
    np.testing.assert_allclose(decoded, [1.0, -1.0, 0.5, 0.0], atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "channels", "frames"),
    [((1, 1000), 1, 1000), ((8, 1000), 8, 1000), ((1000, 8), 8, 1000), ((4, 2), 2, 4)],
)
def test_audio_channel_layout_detection(
    tmp_path: Path, shape: tuple[int, int], channels: int, frames: int
) -> None:
    """A first side of at most 8 before a longer one is channels; anything else is samples."""
    soundfile = pytest.importorskip("soundfile")
    written = write_audio(np.zeros(shape, dtype=np.float32), 8000, tmp_path / "sound", "flac")
    info = soundfile.info(written.path)
    assert (info.channels, info.frames) == (channels, frames)
    assert written.duration == frames / 8000


@pytest.mark.parametrize(
    ("samples", "fmt", "message"),
    [
        (np.zeros((3, 1000), dtype=np.float32), "mp3", "mp3 holds at most 2 channels, got 3"),
        (np.zeros((1000, 9), dtype=np.float32), "wav", "at most 8 channels"),
        (np.zeros(0, dtype=np.float32), "wav", "no samples"),
        (np.zeros((2, 2, 2), dtype=np.float32), "wav", "shape"),
        (np.zeros(10, dtype=np.uint8), "wav", "uint8"),
        (np.zeros(10, dtype=np.float32), "ogg", "unknown audio format 'ogg'"),
    ],
)
def test_audio_refuses_what_it_cannot_write(
    tmp_path: Path, samples: np.ndarray, fmt: Any, message: str
) -> None:
    """Too many channels for the format, empty or odd arrays and unknown formats raise."""
    pytest.importorskip("soundfile")
    with pytest.raises(ValueError, match=message):
        write_audio(samples, 8000, tmp_path / "sound", fmt)
