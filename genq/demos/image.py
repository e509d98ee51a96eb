"""``demo-image``: a procedural image generator that behaves like a text-to-image model.

It needs no weights and no GPU: the prompt and seed pick the waves and colours of an abstract
picture (see ``procedural.Painter``). Same prompt, seed and settings give the same bytes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from genq.demos.inputs import format_property, input_object, prompt_property, seed_property
from genq.demos.procedural import Canvas, Painter
from genq.media.encode import IMAGE_FORMATS, save_image
from genq.models.base import Model, Price, RunContext, Usage, fill_defaults
from genq.models.inputs import ASPECT_RATIOS, chosen_seed, resolve_size, stable_seed

MIN_SIDE = 64
MAX_SIDE = 2048
DEFAULT_SIDE = 512


def _side(title: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "title": title,
        "description": (
            f"{title} in pixels. Without it: {DEFAULT_SIDE}, or from the aspect ratio when one "
            "is given."
        ),
        "minimum": MIN_SIDE,
        "maximum": MAX_SIDE,
        "x-playground": {"widget": "number", "step": 64, "advanced": True},
    }


class DemoImage(Model):
    name = "demo-image"
    description = "Procedural abstract images from a prompt and seed (no weights, CPU only)."
    modality = "image"
    price = Price(per_output=0.002)
    input_schema: ClassVar[dict[str, Any]] = input_object(
        "prompt",
        {
            "prompt": prompt_property("What to draw; it picks the shapes and colours."),
            "aspect_ratio": {
                "type": "string",
                "title": "Aspect ratio",
                "description": "Shape of the image, longer side 512 px; width and height win.",
                "enum": list(ASPECT_RATIOS),
                "x-playground": {"widget": "select"},
            },
            "width": _side("Width"),
            "height": _side("Height"),
            "num_images": {
                "type": "integer",
                "title": "Images",
                "description": "How many images; image i uses seed + i.",
                "default": 1,
                "minimum": 1,
                "maximum": 8,
                "x-playground": {"widget": "slider", "step": 1},
            },
            "seed": seed_property("image"),
            "steps": {
                "type": "integer",
                "title": "Steps",
                "description": "Refinement passes: more passes add finer detail.",
                "default": 8,
                "minimum": 1,
                "maximum": 50,
                "x-playground": {"widget": "slider", "step": 1, "advanced": True},
            },
            "output_format": format_property("File format of the images.", IMAGE_FORMATS),
        },
    )

    def usage(self, input: dict[str, Any]) -> Usage:
        return Usage(outputs=int(input.get("num_images") or 1))

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        params = fill_defaults(self.input_schema, input)
        prompt: str = params["prompt"]
        width, height = resolve_size(
            params.get("width"),
            params.get("height"),
            params.get("aspect_ratio"),
            longer=DEFAULT_SIDE,
            lower=MIN_SIDE,
            upper=MAX_SIDE,
        )
        seed = chosen_seed(params, ctx.log)
        count: int = params["num_images"]
        steps: int = params["steps"]

        total = count * steps
        for index in range(count):
            rng = np.random.default_rng(stable_seed("demo-image", prompt, seed + index))
            painter = Painter(rng, layers=steps)
            canvas = Canvas(width, height)
            for step in range(steps):
                ctx.check_stop()
                painter.paint_layer(canvas, step)
                ctx.progress(index * steps + step + 1, total)
            # The writer's options add no run-dependent metadata: the bytes depend on the input
            # alone.
            written = save_image(
                painter.finish(canvas), ctx.work_dir / f"image-{index}", params["output_format"]
            )
            written.add_to(ctx)
