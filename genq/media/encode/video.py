"""Video: H.264 (libx264, yuv420p) MP4 from frames, written one at a time or all at once,
through PyAV; and a video's first frame as a thumbnail."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from genq.media.encode.files import Written, with_suffix
from genq.media.encode.image import save_image, to_uint8

if TYPE_CHECKING:
    from collections.abc import Iterable

    from av.container import OutputContainer
    from av.video.stream import VideoStream

_MP4_SUFFIXES = (".mp4",)


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
        self.path = with_suffix(path, _MP4_SUFFIXES)
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
    rgb = to_uint8(np.asarray(frame))
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a frame of shape (height, width, 3), got {rgb.shape}")
    height, width = rgb.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"a frame of {width}x{height} is too small for H.264")
    # 4:2:0 chroma needs an even width and height. An odd side loses its last row or column
    # rather than gaining one: cropping invents no pixels, and one pixel is not missed.
    return np.ascontiguousarray(rgb[: height - height % 2, : width - width % 2])
