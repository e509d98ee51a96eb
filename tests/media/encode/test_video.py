"""The video writer: every file is decoded back and checked against what it said."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genq.media.encode import VideoWriter, Written, write_video
from tests.media.images import gradient


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
