"""Audio: 16-bit WAV or FLAC, or MP3, from an array of samples, through soundfile."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from genq.media.encode.files import Format, Written, lookup, with_suffix

AudioFormat = Literal["wav", "mp3", "flac"]

_AUDIO: dict[str, Format] = {
    # 16-bit PCM plays everywhere, browsers included.
    "wav": Format("WAV", "audio/wav", (".wav",), {"subtype": "PCM_16"}),
    "mp3": Format("MP3", "audio/mpeg", (".mp3",), {"subtype": "MPEG_LAYER_III"}),
    "flac": Format("FLAC", "audio/flac", (".flac",), {"subtype": "PCM_16"}),
}
AUDIO_FORMATS: tuple[str, ...] = tuple(_AUDIO)
# FLAC stores at most 8 channels, MP3 at most 2; WAV could hold more, but no model makes them.
_MAX_CHANNELS = {"wav": 8, "flac": 8, "mp3": 2}


def write_audio(
    samples: np.ndarray, sample_rate: int, path: str | Path, fmt: AudioFormat = "wav"
) -> Written:
    """Write ``samples`` as 16-bit WAV or FLAC, or MP3, to ``path`` plus the format's suffix.

    ``samples`` has shape (samples,), (samples, channels) or (channels, samples): a 2-D array
    whose first side is at most 8 and second side longer is read as channels-first, as torch
    pipelines return audio. Floats are clipped to [-1, 1]; ``int16`` and ``int32`` samples are
    full-scale PCM and written as they are.
    """
    import soundfile

    spec = lookup(_AUDIO, fmt, "audio")
    frames = _sample_frames(samples)
    channels = 1 if frames.ndim == 1 else frames.shape[1]
    if channels > _MAX_CHANNELS[fmt]:
        raise ValueError(f"{fmt} holds at most {_MAX_CHANNELS[fmt]} channels, got {channels}")
    if sample_rate <= 0:
        raise ValueError(f"the sample rate must be positive, got {sample_rate}")
    target = with_suffix(path, spec.suffixes)
    soundfile.write(target, frames, sample_rate, format=spec.codec, **spec.options)
    return Written(target, spec.content_type, duration=frames.shape[0] / sample_rate)


def _sample_frames(samples: np.ndarray) -> np.ndarray:
    """Samples as (samples,) or (samples, channels), ready for soundfile."""
    samples = np.asarray(samples)
    if samples.ndim == 2 and samples.shape[0] <= 8 < samples.shape[1]:
        samples = samples.T
    if samples.ndim not in (1, 2):
        raise ValueError(f"expected audio of shape (samples,) or 2-D, got {samples.shape}")
    if samples.shape[0] == 0:
        raise ValueError("there are no samples to write")
    if samples.dtype in (np.int16, np.int32):
        return np.ascontiguousarray(samples)
    if not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"expected float, int16 or int32 samples, got {samples.dtype}")
    clipped = np.clip(np.nan_to_num(samples, nan=0.0), -1.0, 1.0)
    return np.ascontiguousarray(clipped, dtype=np.float32)
