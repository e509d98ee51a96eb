"""The audio writer: every file is decoded back and checked against what it said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genq.media.encode import Written, write_audio


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    """A 440 Hz sine at half scale, shape (samples, channels), float32."""
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([wave] * channels, axis=1).astype(np.float32)


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
