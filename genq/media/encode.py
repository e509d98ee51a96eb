"""Writers of model outputs: images, H.264 MP4 video and audio files.

Model runtimes and plug-in authors hand over pixels or samples as numpy arrays (or PIL
images) and get back a ``Written`` with what ``RunContext.add_output`` needs::

    written = save_image(pixels, ctx.work_dir / "image-0", "webp")
    ctx.add_output(written.path, written.content_type, width=written.width,
                   height=written.height)

Each writer takes a path without a suffix and adds the format's (``image-0.webp``); a path
that already ends with it is used as it is.

PyAV and soundfile come with the ``demo`` extra and are imported inside the functions: the API
process imports genq without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from collections.abc import Iterable

    from av.container import OutputContainer
    from av.video.stream import VideoStream

__all__ = [
    "AUDIO_FORMATS",
    "IMAGE_FORMATS",
    "AudioFormat",
    "ImageFormat",
    "VideoWriter",
    "Written",
    "save_image",
    "video_thumbnail",
    "write_audio",
    "write_video",
]

ImageFormat = Literal["png", "jpeg", "webp"]
AudioFormat = Literal["wav", "mp3", "flac"]


@dataclass(frozen=True)
class Written:
    """A file a writer made, with the metadata ``RunContext.add_output`` takes."""

    path: Path
    content_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass(frozen=True)
class _Format:
    codec: str  # Pillow's format name or soundfile's major format
    content_type: str
    suffixes: tuple[str, ...]  # the first one is added to paths without one
    options: dict[str, Any]


_IMAGE: dict[str, _Format] = {
    # Speed matters more than the last few percent of size; none of these options add
    # timestamps or other run-dependent metadata, so the bytes depend on the pixels alone.
    # They are the options demo-image uses.
    "png": _Format("PNG", "image/png", (".png",), {"compress_level": 1}),
    "jpeg": _Format("JPEG", "image/jpeg", (".jpg", ".jpeg"), {"quality": 90}),
    "webp": _Format("WEBP", "image/webp", (".webp",), {"quality": 90, "method": 2}),
}
IMAGE_FORMATS: tuple[str, ...] = tuple(_IMAGE)

_AUDIO: dict[str, _Format] = {
    # 16-bit PCM plays everywhere, browsers included.
    "wav": _Format("WAV", "audio/wav", (".wav",), {"subtype": "PCM_16"}),
    "mp3": _Format("MP3", "audio/mpeg", (".mp3",), {"subtype": "MPEG_LAYER_III"}),
    "flac": _Format("FLAC", "audio/flac", (".flac",), {"subtype": "PCM_16"}),
}
AUDIO_FORMATS: tuple[str, ...] = tuple(_AUDIO)
# FLAC stores at most 8 channels, MP3 at most 2; WAV could hold more, but no model makes them.
_MAX_CHANNELS = {"wav": 8, "flac": 8, "mp3": 2}

_MP4_SUFFIXES = (".mp4",)
# Modes written as they are; anything else (palette, CMYK, 16-bit, float) becomes RGB(A).
_PLAIN_MODES = ("RGB", "RGBA", "L", "LA")
# Composited under transparent pixels for JPEG, which has no alpha channel: white is how
# most viewers show transparency, and dropping alpha would reveal whatever colour the
# transparent pixels happen to hold (often black).
_JPEG_BACKGROUND = (255, 255, 255)


# --- images ----------------------------------------------------------------------------------


def save_image(
    image: Image.Image | np.ndarray, path: str | Path, fmt: ImageFormat = "png"
) -> Written:
    """Write ``image`` as PNG, JPEG or WebP to ``path`` plus the format's suffix.

    ``image`` is a PIL image or an array of shape (height, width) or (height, width, 1, 3
    or 4), ``uint8`` or float in [0, 1] (values outside are clipped).
    """
    spec = _lookup(_IMAGE, fmt, "image")
    picture = _for_format(_as_picture(image), fmt)
    target = _with_suffix(path, spec.suffixes)
    picture.save(target, spec.codec, **spec.options)
    return Written(target, spec.content_type, width=picture.width, height=picture.height)


def _as_picture(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    pixels = _to_uint8(np.asarray(image))
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


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
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


# --- video -----------------------------------------------------------------------------------


class VideoWriter:
    """Encodes frames one at a time into an H.264 (libx264, yuv420p) MP4.

    For models that render frame by frame and report progress or check for a stop between
    frames; ``write_video`` is the one-call form for models that return all frames at once::

        with VideoWriter(ctx.work_dir / "video", fps=24) as video:
            for index in range(count):
                ctx.check_stop()
                video.write(render(index))
                ctx.progress(index + 1, count)
        written = video.finish()

    The size comes from the first frame; every frame must have it. Leaving the ``with``
    block normally finishes the file; leaving it with an exception closes it unfinished.
    """

    def __init__(
        self, path: str | Path, fps: float | Fraction, *, crf: int = 23, preset: str = "veryfast"
    ) -> None:
        self.path = _with_suffix(path, _MP4_SUFFIXES)
        self.fps = _frame_rate(fps)
        self.frames = 0
        self._options: dict[str, object] = {"crf": str(crf), "preset": preset}
        # Opened at the first frame, which gives the size.
        self._output: tuple[OutputContainer, VideoStream] | None = None
        self._size = (0, 0)
        self._closed = False
        self._written: Written | None = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self._close()

    def write(self, frame: np.ndarray | Image.Image) -> None:
        """Encode the next frame: an RGB PIL image, or an array of shape (height, width, 3),
        ``uint8`` or float in [0, 1]."""
        import av

        if self._closed:
            raise ValueError(f"{self.path} is closed")
        rgb = _even_frame(frame)
        height, width = rgb.shape[:2]
        if self._output is None:
            self._output = self._open(width, height)
            self._size = (width, height)
        elif self._size != (width, height):
            raise ValueError(
                f"frame {self.frames} is {width}x{height}, the video is "
                f"{self._size[0]}x{self._size[1]}"
            )
        container, stream = self._output
        video_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        video_frame.pts = self.frames
        video_frame.time_base = 1 / self.fps
        container.mux(stream.encode(video_frame))
        self.frames += 1

    def finish(self) -> Written:
        """Flush the encoder and close the file (once; later calls return the same)."""
        if self._written is not None:
            return self._written
        if self._closed:
            raise ValueError(f"{self.path} was closed unfinished")
        if self._output is None:
            raise ValueError(f"no frames were written to {self.path}")
        container, stream = self._output
        try:
            container.mux(stream.encode(None))
        finally:
            self._close()
        width, height = self._size
        self._written = Written(
            self.path,
            "video/mp4",
            width=width,
            height=height,
            duration=float(self.frames / self.fps),
        )
        return self._written

    def _open(self, width: int, height: int) -> tuple[OutputContainer, VideoStream]:
        import av

        # faststart moves the index to the front so that browsers can play while downloading.
        container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        stream = container.add_stream("libx264", rate=self.fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / self.fps
        stream.options = self._options
        return container, stream

    def _close(self) -> None:
        self._closed = True
        if self._output is not None:
            container, self._output = self._output[0], None
            container.close()


def video_thumbnail(video: str | Path, target: str | Path, longer_side: int = 512) -> Path:
    """Save the first frame of ``video`` as a JPEG at most ``longer_side`` pixels long."""
    import av

    with av.open(str(video)) as container:
        frame = next(container.decode(video=0), None)
        if frame is None:
            raise ValueError(f"{video} has no video frame")
        picture = frame.to_image()
    picture.thumbnail((longer_side, longer_side))
    return save_image(picture, target, "jpeg").path


def write_video(
    frames: np.ndarray | Iterable[np.ndarray | Image.Image],
    fps: float | Fraction,
    path: str | Path,
    *,
    crf: int = 23,
    preset: str = "veryfast",
) -> Written:
    """Encode ``frames`` as an H.264 MP4 at ``fps`` frames per second.

    ``frames`` is an array of shape (frames, height, width, 3), ``uint8`` or float in [0, 1],
    or an iterable of such (height, width, 3) arrays or of PIL images.
    """
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ValueError(f"expected frames of shape (frames, height, width, 3), got {frames.shape}")
    with VideoWriter(path, fps, crf=crf, preset=preset) as video:
        for frame in frames:
            video.write(frame)
    return video.finish()


def _frame_rate(fps: float | Fraction) -> Fraction:
    # A float rate becomes the nearest fraction with a denominator up to 1001, so that the
    # NTSC rates (24000/1001 = 23.976..., 30000/1001) come out exact and short time bases stay
    # short; an int or Fraction is taken as it is.
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"the frame rate must be positive, got {fps}")
    return rate


def _even_frame(frame: np.ndarray | Image.Image) -> np.ndarray:
    """The frame as contiguous RGB ``uint8`` with an even width and height."""
    if isinstance(frame, Image.Image):
        frame = np.asarray(frame.convert("RGB"))
    rgb = _to_uint8(np.asarray(frame))
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a frame of shape (height, width, 3), got {rgb.shape}")
    height, width = rgb.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"a frame of {width}x{height} is too small for H.264")
    # 4:2:0 chroma needs an even width and height. An odd side loses its last row or column
    # rather than gaining one: cropping invents no pixels, and one pixel is not missed.
    return np.ascontiguousarray(rgb[: height - height % 2, : width - width % 2])


# --- audio -----------------------------------------------------------------------------------


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

    spec = _lookup(_AUDIO, fmt, "audio")
    frames = _sample_frames(samples)
    channels = 1 if frames.ndim == 1 else frames.shape[1]
    if channels > _MAX_CHANNELS[fmt]:
        raise ValueError(f"{fmt} holds at most {_MAX_CHANNELS[fmt]} channels, got {channels}")
    if sample_rate <= 0:
        raise ValueError(f"the sample rate must be positive, got {sample_rate}")
    target = _with_suffix(path, spec.suffixes)
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


# --- shared ----------------------------------------------------------------------------------


def _lookup(formats: dict[str, _Format], fmt: str, kind: str) -> _Format:
    try:
        return formats[fmt]
    except KeyError:
        raise ValueError(
            f"unknown {kind} format {fmt!r}; expected one of {', '.join(formats)}"
        ) from None


def _with_suffix(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.suffix.lower() in suffixes:
        return path
    return path.with_name(path.name + suffixes[0])
