"""Decoding a reference sound (WAV, FLAC, MP3, AAC, OGG, WebM or M4A bytes) into the samples a
model takes: mono float32 in [-1, 1] at the model's sample rate.

A sound's length is bounded, as an image's pixel count is: a few megabytes of compressed audio
can decode to hours, and an hour at 16 kHz is 230 MB of float32. One whose container says it is
longer than allowed is refused before anything is decoded; but a header may lie or say nothing,
so the decoded samples are counted too, and decoding stops as soon as they pass the limit. They
go into one buffer, made for two minutes of them at most whatever the header says, that grows
as they come and never past the limit's worth of samples.

PyAV (ffmpeg) is imported when a sound is decoded, not with this module: the API process
imports the fetch, and never decodes.
"""

from __future__ import annotations

import io
import math
import re
from typing import TYPE_CHECKING, Any

from genq.media.reference import Refusal, sniff_audio

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: ffmpeg's demuxer for each type ``sniff_audio`` recognises: the bytes reach no other.
_DEMUXERS = {
    "audio/wav": "wav",
    "audio/flac": "flac",
    "audio/mpeg": "mp3",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/webm": "matroska",
    "audio/x-matroska": "matroska",
    "audio/mp4": "mp4",
}
#: The codecs taken (ffmpeg's names): those the accepted formats are made for, and PCM. WAV,
#: Matroska and MP4 can carry nearly any of ffmpeg's audio codecs, each a decoder the bytes
#: would reach.
_CODECS = re.compile(
    r"flac|mp[123]|aac|vorbis|opus|alac|pcm_(?:[su](?:8|16|24|32|64)|f(?:32|64))(?:le|be)?"
    r"|pcm_(?:alaw|mulaw)"
)
_CODECS_TEXT = "PCM, FLAC, MP3, AAC, Vorbis, Opus or ALAC"
#: How much longer than allowed a container may say a sound is and still be decoded: declared
#: durations count codec delay (Opus's pre-skip, AAC's priming) or are estimated from the bit
#: rate (MP3, AAC without a container). The decoded samples are held to the limit exactly.
_DECLARED_SLACK_SECONDS = 1.0
#: Room made at first for a sound whose length is not declared; the buffer doubles from there.
_FIRST_SECONDS = 30.0
#: The most room made at first for a sound that declares its length: a header may say ten
#: hours and hold one second. A longer sound grows the buffer as it is decoded.
_MOST_FIRST_SECONDS = 120.0
#: The most channels taken: more than surround or ambisonic recordings have. A header may
#: claim thousands, each decoded and resampled before their mean is taken.
_MAX_CHANNELS = 32
#: The lowest sample rate taken. Resampling makes the samples of a whole decoded frame at once,
#: and a frame may hold 65535 samples (FLAC): at 1 Hz, that is 18 hours, a billion samples at
#: 16 kHz made in one go, before their length could be checked. Real sounds have 8 kHz or
#: more; at 4 kHz, a frame makes at most 16 s of 48 kHz samples.
_MIN_SAMPLE_RATE = 4000


def decode_audio(data: bytes, *, sample_rate: int, max_seconds: float) -> npt.NDArray[np.float32]:
    """The sound in ``data`` as one channel (the mean of its channels) of float32 samples in
    [-1, 1] at ``sample_rate``; refused (``Refusal``) when it is not readable audio, holds no
    sound, or lasts longer than ``max_seconds``, said by its header or found while decoding."""
    import av

    if sample_rate <= 0 or not max_seconds > 0:
        raise ValueError(
            f"sample_rate and max_seconds must be positive: {sample_rate}, {max_seconds}"
        )
    content_type = sniff_audio(data)
    if content_type is None:
        raise Refusal("not readable audio (no known audio format)", kind="bad_type")
    try:
        container = av.open(
            io.BytesIO(data), format=_DEMUXERS[content_type], metadata_errors="ignore"
        )
    except (av.FFmpegError, ValueError) as exc:
        raise Refusal(f"not readable audio ({_reason(exc)})", kind="bad_type") from exc
    with container:
        if not container.streams.audio:
            raise Refusal("not readable audio (it holds no sound track)", kind="bad_type")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # no decoder for it
            raise Refusal(
                f"not readable audio (its codec is unknown, not {_CODECS_TEXT})", kind="bad_type"
            )
        codec = stream.codec_context.codec.canonical_name
        if not _CODECS.fullmatch(codec):
            raise Refusal(
                f"not readable audio (its codec, {codec}, is not {_CODECS_TEXT})", kind="bad_type"
            )
        _check_channels(stream.codec_context.channels)
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds + _DECLARED_SLACK_SECONDS:
            raise Refusal(
                f"it lasts {declared:.1f} s, longer than the {max_seconds:g} s allowed",
                kind="too_long",
            )
        expected = (
            _FIRST_SECONDS
            if declared is None
            else min(declared + _DECLARED_SLACK_SECONDS, _MOST_FIRST_SECONDS)
        )
        samples = _Samples(
            limit=math.floor(max_seconds * sample_rate),
            first=math.ceil(expected * sample_rate),
            max_seconds=max_seconds,
        )
        try:
            _decode(av, container, stream, sample_rate, samples)
        except (av.FFmpegError, ValueError) as exc:
            raise Refusal(f"not readable audio ({_reason(exc)})", kind="bad_type") from exc
    return samples.result()


def _reason(exc: Exception) -> str:
    """What went wrong, without PyAV's error number and file name ("[Errno 1094995529] ...:
    '<none>'")."""
    return str(getattr(exc, "strerror", None) or exc)


def _check_channels(channels: int) -> None:
    """Refuse a sound of more than ``_MAX_CHANNELS`` channels."""
    if channels > _MAX_CHANNELS:
        raise Refusal(
            f"it has {channels} channels, more than the {_MAX_CHANNELS} taken", kind="malformed"
        )


def _declared_seconds(container: Any, stream: Any) -> float | None:
    """How long the container says the sound lasts; None if it does not say."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    if stream.duration is not None and stream.duration > 0 and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _decode(av: Any, container: Any, stream: Any, sample_rate: int, samples: _Samples) -> None:
    """Decode ``stream`` into ``samples``, resampled to ``sample_rate``."""
    resampler: Any = None
    setup: tuple[str, str, int] | None = None
    for frame in container.decode(stream):
        # A stream may change its layout or rate midway (chained Ogg, some AAC); a resampler
        # takes only what it was made for, so each change gets a new one.
        frame_setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if frame_setup != setup:
            _check_channels(frame.layout.nb_channels)
            if frame.sample_rate < _MIN_SAMPLE_RATE:
                raise Refusal(
                    f"its sample rate, {frame.sample_rate} Hz, is below the "
                    f"{_MIN_SAMPLE_RATE} Hz taken",
                    kind="malformed",
                )
            if resampler is not None:
                samples.add_frames(resampler.resample(None))
            # Packed float at the model's rate, channels kept: they are averaged here, as
            # ffmpeg's own downmix weights them by 0.7 and can leave [-1, 1]. Not planar: PyAV's
            # to_ndarray crashes the process on a frame of 8 planes or more.
            resampler = av.AudioResampler(format="flt", rate=sample_rate)
            setup = frame_setup
        samples.add_frames(resampler.resample(frame))
    if resampler is not None:
        samples.add_frames(resampler.resample(None))


class _Samples:
    """Mono samples gathered into one float32 buffer, refused past ``limit`` of them."""

    def __init__(self, *, limit: int, first: int, max_seconds: float) -> None:
        import numpy as np

        self.limit = limit
        self.max_seconds = max_seconds
        self.count = 0
        self.buffer = np.empty(max(1, min(limit, first)), dtype=np.float32)

    def add_frames(self, frames: list[Any]) -> None:
        for frame in frames:
            self.add(frame.to_ndarray().reshape(-1, frame.layout.nb_channels))

    def add(self, channels: npt.NDArray[np.float32]) -> None:
        """Add one frame's samples (a row each, a column for each channel), as their mean."""
        import numpy as np

        length = channels.shape[0]
        end = self.count + length
        if end > self.limit:
            raise Refusal(
                f"it lasts longer than the {self.max_seconds:g} s allowed", kind="too_long"
            )
        if end > len(self.buffer):
            # In place (nothing else refers to it): a large block is remapped, not copied, so
            # the old buffer and the new one are not held together.
            self.buffer.resize(min(self.limit, max(end, 2 * len(self.buffer))), refcheck=False)
        target = self.buffer[self.count : end]
        if channels.shape[1] == 1:
            target[:] = channels[:, 0]
        else:
            np.mean(channels, axis=1, out=target)
        self.count = end

    def result(self) -> npt.NDArray[np.float32]:
        import numpy as np

        if self.count == 0:
            raise Refusal("it holds no sound (no samples)", kind="malformed")
        self.buffer.resize(self.count, refcheck=False)  # in place: no second copy
        samples = self.buffer
        # A float WAV may hold anything; a model is promised [-1, 1].
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        np.clip(samples, -1.0, 1.0, out=samples)
        # Silence is kept: "nothing was said" is a transcript, and a recorder's quiet take
        # is no malformed file.
        return samples
