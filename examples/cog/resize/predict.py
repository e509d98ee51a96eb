# Prediction interface for Cog ⚙️
# https://cog.run/python
#
# genq serves this folder unchanged:
#
#     [models.resize]
#     runtime = "cog"
#     path = "examples/cog/resize"
#     modality = "image"

import tempfile

from cog import BasePredictor, Input, Path
from PIL import Image, ImageOps

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Load the model into memory to make running multiple predictions efficient"""
        self.resampling = RESAMPLING

    def predict(
        self,
        image: Path = Input(description="Image to resize"),
        scale: float = Input(description="Factor to scale the image by", default=2, ge=0.1, le=4),
        resample: str = Input(
            description="Resampling filter",
            choices=["nearest", "bilinear", "bicubic", "lanczos"],
            default="lanczos",
        ),
        background: str = Input(
            description="Colour that replaces transparency, as #rrggbb",
            default="#ffffff",
            regex=r"^#[0-9a-fA-F]{6}$",
        ),
        caption: str = Input(description="Text to log with the result", default="", max_length=80),
    ) -> Path:
        """Run a single prediction on the model"""
        picture = ImageOps.exif_transpose(Image.open(image))
        if picture.mode in ("RGBA", "LA", "P"):
            flat = Image.new("RGB", picture.size, background)
            flat.paste(picture.convert("RGBA"), mask=picture.convert("RGBA"))
            picture = flat
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        print(f"resizing {picture.width}x{picture.height} to {size[0]}x{size[1]} {caption}")
        resized = picture.convert("RGB").resize(size, self.resampling[resample])
        output = Path(tempfile.mkdtemp()) / "resized.png"
        resized.save(output)
        return output
