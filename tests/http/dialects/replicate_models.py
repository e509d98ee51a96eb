"""A model for the Replicate dialect's tests, loaded through the config as users' own are: it
takes a reference image, which a file upload through the official client provides."""

from __future__ import annotations

from typing import Any, ClassVar

from PIL import ImageOps

from genq.models.base import IMAGE_REFERENCE, Model, RunContext


class Mirror(Model):
    """Mirrors its reference image left to right."""

    name = "mirror"
    modality = "image"
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["image"],
        "properties": {"image": {"type": "string", "format": IMAGE_REFERENCE}},
    }

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        picture = ctx.fetch_image(input["image"])
        ctx.log(f"mirroring a {picture.width}x{picture.height} image")
        path = ctx.work_dir / "mirrored.png"
        ImageOps.mirror(picture).save(path)
        ctx.add_output(path, "image/png", width=picture.width, height=picture.height)
