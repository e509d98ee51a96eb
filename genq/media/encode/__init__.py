"""Writers of model outputs: images, H.264 MP4 video and audio files.

Model runtimes and plug-in authors hand over pixels or samples as numpy arrays (or PIL
images) and get back a ``Written`` with what ``RunContext.add_output`` needs::

    written = save_image(pixels, ctx.work_dir / "image-0", "webp")
    written.add_to(ctx)  # ctx.add_output(written.path, ..., width=..., height=...)

Each writer takes a path without a suffix and adds the format's (``image-0.webp``); a path
that already ends with it is used as it is.

PyAV and soundfile come with the ``demo`` extra and are imported inside the functions: the API
process imports genq without them. Each kind of writer has its module (``image``, ``video``,
``audio``); ``files`` holds what they share.
"""

from __future__ import annotations

from genq.media.encode.audio import AUDIO_FORMATS, AudioFormat, write_audio
from genq.media.encode.files import Written
from genq.media.encode.image import IMAGE_FORMATS, ImageFormat, save_image
from genq.media.encode.video import VideoWriter, video_thumbnail, write_video

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
