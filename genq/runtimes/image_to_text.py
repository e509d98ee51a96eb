"""The transformers runtime's ``image-to-text`` task: captioning and visual question answering
with the models ``AutoModelForImageTextToText`` loads (BLIP, GIT, VisionEncoderDecoder and
others) and their processor. The text is streamed to the job's event stream as it comes.

The reference image is fetched at the size the processor works at, so a large photo never
takes more memory than the model's own input.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from genq.models.base import IMAGE_REFERENCE, InputError, RunContext, fill_defaults
from genq.runtimes.device import TorchOptions
from genq.runtimes.pretrained import PretrainedModel
from genq.runtimes.textgen import job_streamer


class ImageToTextOptions(TorchOptions):
    default_max_tokens: int = Field(default=64, ge=1)
    max_tokens: int = Field(default=512, ge=1)


class ImageToTextModel(PretrainedModel):
    description = "A transformers image-to-text model."
    modality = "text"
    task = "image-to-text"
    Options: ClassVar[type[ImageToTextOptions]] = ImageToTextOptions
    options: ImageToTextOptions

    def __init__(self, options: ImageToTextOptions | None = None) -> None:
        super().__init__(options)
        assert options is not None
        self.declare(
            description=f"Image to text with the model at {options.source}",
            input_schema=input_schema(options),
        )
        #: The processor that takes the image and the prompt together; None when the folder
        #: has none (a VisionEncoderDecoder one may hold an image processor and a tokenizer
        #: alone): then the image goes through ``images`` and a prompt is refused.
        self.processor: Any = None
        self.images: Any = None
        self.tokenizer: Any = None

    def setup(self) -> None:
        import transformers

        self.prepare()
        source, where = self.options.source, self.source_kwargs()
        found = transformers.AutoProcessor.from_pretrained(source, **where)
        if hasattr(found, "image_processor") and hasattr(found, "tokenizer"):
            self.processor, self.images, self.tokenizer = (
                found,
                found.image_processor,
                found.tokenizer,
            )
        else:
            self.images = transformers.AutoImageProcessor.from_pretrained(source, **where)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, **where)
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            source, **self.weight_kwargs()
        )
        self.model = model.to(self.device).eval()

    def teardown(self) -> None:
        super().teardown()
        self.processor = self.images = self.tokenizer = None

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        import torch

        params = fill_defaults(self.input_schema, input)
        image = ctx.fetch_image(params["image"], size=reference_size(self.images)).convert("RGB")
        prompt = params.get("prompt")
        if self.processor is not None:
            text = {"text": prompt} if prompt is not None else {}
            inputs = self.processor(images=image, return_tensors="pt", **text)
        elif prompt is None:
            inputs = self.images(image, return_tensors="pt")
        else:
            raise InputError("this model captions without a prompt: leave it out")
        inputs = inputs.to(self.device)
        floating = {k: v.to(self.dtype) for k, v in inputs.items() if v.is_floating_point()}
        max_tokens = params["max_tokens"]
        streamer = job_streamer(self.tokenizer, ctx, max_tokens)
        with torch.inference_mode():
            self.model.generate(
                **{**inputs, **floating}, max_new_tokens=max_tokens, streamer=streamer
            )
        ctx.check_stop()
        path = ctx.work_dir / "output.txt"
        path.write_text(streamer.streamed.strip(), encoding="utf-8")
        ctx.add_output(path, "text/plain; charset=utf-8")


def reference_size(images: Any) -> Any:
    """The size to fetch a reference image at: the image processor's fixed height and width,
    or a function that scales the image so that its shortest side (or else its longest) is the
    processor's; None (the image as it is) when the processor says neither. The longest side
    is held to the processor's ``longest_edge``, else to four times its shortest (or its crop,
    when larger): a thin strip's shortest side brought up would make it enormous."""

    def side(size: Any, name: str) -> int | None:
        value = size.get(name) if isinstance(size, dict) else getattr(size, name, None)
        return int(value) if value else None

    size = getattr(images, "size", None)
    height, width = side(size, "height"), side(size, "width")
    if height and width:
        return (width, height)
    shortest, longest = side(size, "shortest_edge"), side(size, "longest_edge")
    if shortest is None and longest is None:
        return None
    if longest is None:
        crop = getattr(images, "crop_size", None)
        cropped = max(side(crop, "height") or 0, side(crop, "width") or 0)
        longest = max(cropped, 4 * (shortest or 0))

    def scaled(w: int, h: int) -> tuple[int, int]:
        scale = longest / max(w, h)
        if shortest:
            scale = min(shortest / min(w, h), scale)
        return max(1, round(w * scale)), max(1, round(h * scale))

    return scaled


def input_schema(o: ImageToTextOptions) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["image"],
        "properties": {
            "image": {
                "type": "string",
                "format": IMAGE_REFERENCE,
                "title": "Image",
                "description": "The image to describe: an http(s) URL or a data: URI of a "
                "PNG, JPEG, WebP or GIF image.",
                "x-playground": {"widget": "file-upload", "uploadKind": "image"},
            },
            "prompt": {
                "type": "string",
                "title": "Prompt",
                "description": "The caption's start, or a question about the image; left "
                "out, the model captions the image.",
                "minLength": 1,
                "maxLength": 2000,
            },
            "max_tokens": {
                "type": "integer",
                "title": "Most new tokens",
                "default": o.default_max_tokens,
                "minimum": 1,
                "maximum": o.max_tokens,
            },
        },
    }
