"""``demo-video``: a procedural animation encoded as H.264 MP4, standing in for a text-to-video
model. The prompt and seed pick the picture (see ``procedural.Painter``); time moves its waves.

PyAV is imported only while a video is encoded (in ``encode.VideoWriter``): the API process
reads this class without the demo extra.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from genq.demos.inputs import input_object, prompt_property, seed_property
from genq.demos.procedural import Painter
from genq.media.encode import VideoWriter
from genq.models.base import Model, Price, RunContext, Usage, fill_defaults
from genq.models.inputs import ASPECT_RATIOS, chosen_seed, size_for_ratio, stable_seed

#: Longer side of the frames: small, so that a clip encodes in about real time on one core.
LONGER_SIDE = 320
#: Fewer and broader waves than the image model: fine ripples just shimmer at this size.
LAYERS = 6
DETAIL = 9.0


class DemoVideo(Model):
    name = "demo-video"
    description = "Procedural abstract animations as H.264 MP4 (no weights, CPU only)."
    modality = "video"
    price = Price(per_second=0.01)
    requires = ("av",)
    extra = "demo"
    input_schema: ClassVar[dict[str, Any]] = input_object(
        "prompt",
        {
            "prompt": prompt_property("What to animate; it picks the shapes, colours and motion."),
            "duration": {
                "type": "number",
                "title": "Duration (s)",
                "description": "Length of the clip in seconds.",
                "default": 2,
                "minimum": 1,
                "maximum": 10,
                "x-playground": {"widget": "slider", "step": 0.5},
            },
            "fps": {
                "type": "integer",
                "title": "Frames per second",
                "description": "Frame rate of the clip.",
                "default": 12,
                "minimum": 1,
                "maximum": 30,
                "x-playground": {"widget": "slider", "step": 1, "advanced": True},
            },
            "aspect_ratio": {
                "type": "string",
                "title": "Aspect ratio",
                "description": f"Shape of the frames; the longer side is {LONGER_SIDE} px.",
                "enum": list(ASPECT_RATIOS),
                "default": "16:9",
                "x-playground": {"widget": "select"},
            },
            "seed": seed_property("animation"),
        },
    )

    def usage(self, input: dict[str, Any]) -> Usage:
        params = fill_defaults(self.input_schema, input)
        # The video lasts a whole number of frames, as predict() renders it.
        frames = max(1, round(params["duration"] * params["fps"]))
        return Usage(outputs=1, media_seconds=frames / params["fps"])

    def setup(self) -> None:
        import av  # noqa: F401 - fail at worker start, not in the first job, if PyAV is broken

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        params = fill_defaults(self.input_schema, input)
        prompt: str = params["prompt"]
        fps: int = params["fps"]
        frames = max(1, round(params["duration"] * fps))
        width, height = size_for_ratio(params["aspect_ratio"], LONGER_SIDE, multiple=2)
        seed = chosen_seed(params, ctx.log)
        rng = np.random.default_rng(stable_seed("demo-video", prompt, seed))
        painter = Painter(rng, LAYERS, detail=DETAIL)

        with VideoWriter(ctx.work_dir / "video.mp4", fps) as video:
            for index in range(frames):
                ctx.check_stop()
                video.write(painter.render(width, height, time=index / fps))
                ctx.progress(index + 1, frames)
        written = video.finish()
        written.add_to(ctx)
