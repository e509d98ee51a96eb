"""What a diffusers model is configured with (its ``[models.NAME]`` table,
``DiffusersOptions``) and what its jobs take (``input_schema``): both depend on the task."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from genq.models.base import IMAGE_REFERENCE
from genq.models.inputs import ASPECT_RATIOS, SEED_MAX
from genq.runtimes.device import TorchOptions

Task = Literal[
    "text-to-image",
    "image-to-image",
    "inpainting",
    "text-to-video",
    "image-to-video",
    "text-to-audio",
]

MODALITY = {
    "text-to-image": "image",
    "image-to-image": "image",
    "inpainting": "image",
    "text-to-video": "video",
    "image-to-video": "video",
    "text-to-audio": "audio",
}
#: Inputs that name a reference image, per task.
REFERENCES: dict[str, tuple[str, ...]] = {
    "image-to-image": ("image",),
    "inpainting": ("image", "mask_image"),
    "image-to-video": ("image",),
}

IMAGE_FORMATS = ("png", "jpeg", "webp")
AUDIO_FORMATS = ("wav", "flac", "mp3")


class DiffusersOptions(TorchOptions):
    task: Task
    #: A diffusers pipeline class to load with instead of the one the folder names.
    pipeline: str | None = None
    default_steps: int = Field(default=25, ge=1)
    max_steps: int = Field(default=150, ge=1)
    #: None: the pipeline's own default.
    default_guidance: float | None = None
    #: Longer side of images and video frames when the job gives no size (None: the pipeline's
    #: default size).
    default_side: int | None = Field(default=None, ge=8)
    max_side: int = Field(default=2048, ge=8)
    #: Width and height must be multiples of this (8 for Stable Diffusion, 16 for Flux, 32
    #: for LTX-Video).
    size_multiple: int = Field(default=8, ge=1)
    max_images: int = Field(default=4, ge=1)
    default_frames: int = Field(default=25, ge=1)
    max_frames: int = Field(default=257, ge=1)
    default_fps: float = Field(default=24.0, gt=0)
    default_audio_seconds: float = Field(default=5.0, gt=0)
    max_audio_seconds: float = Field(default=47.0, gt=0)
    #: Audio sample rate when the pipeline does not tell (most do).
    sample_rate: int | None = Field(default=None, gt=0)


def input_schema(o: DiffusersOptions) -> dict[str, Any]:
    """The JSON schema of a job's input: the prompt and sampling fields, the task's reference
    images, then the size and the output fields of the task's modality."""
    modality = MODALITY[o.task]
    props = _sampling_fields(o)
    for name in REFERENCES.get(o.task, ()):
        props[name] = {
            "type": "string",
            "format": IMAGE_REFERENCE,
            "title": "Mask" if name == "mask_image" else "Image",
            "description": (
                "White where to paint, black where to keep"
                if name == "mask_image"
                else "The reference image"
            )
            + ": an http(s) URL or a data: URI of a PNG, JPEG, WebP or GIF image.",
            "minLength": 1,
        }
    if o.task in ("image-to-image", "inpainting"):
        props["strength"] = {
            "type": "number",
            "title": "Strength",
            "description": "How much to change the image: 0 keeps it, 1 redraws it.",
            "default": 0.8 if o.task == "image-to-image" else 1.0,
            "minimum": 0,
            "maximum": 1,
        }
    if modality in ("image", "video"):
        props.update(_size_fields(o))
    props.update(_output_fields(o, modality))
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt", *REFERENCES.get(o.task, ())],
        "properties": props,
    }


def _sampling_fields(o: DiffusersOptions) -> dict[str, Any]:
    return {
        "prompt": {
            "type": "string",
            "title": "Prompt",
            "description": "What to generate.",
            "minLength": 1,
            "maxLength": 10000,
            "x-playground": {"widget": "textarea", "rows": 3},
        },
        "negative_prompt": {
            "type": "string",
            "title": "Negative prompt",
            "description": "What to keep out of the result.",
            "maxLength": 10000,
            "x-playground": {"widget": "textarea", "rows": 2, "advanced": True},
        },
        "seed": {
            "type": "integer",
            "title": "Seed",
            "description": "Same input and seed give the same result; without it the seed "
            "comes from the prompt.",
            "minimum": 0,
            "maximum": SEED_MAX,
        },
        "steps": {
            "type": "integer",
            "title": "Steps",
            "description": "Denoising steps: more is slower and usually finer.",
            "default": o.default_steps,
            "minimum": 1,
            "maximum": o.max_steps,
        },
        "guidance": {
            "type": "number",
            "title": "Guidance",
            "description": "How closely to follow the prompt (classifier-free guidance scale).",
            "minimum": 0,
            "maximum": 50,
            **({"default": o.default_guidance} if o.default_guidance is not None else {}),
        },
    }


def _size_fields(o: DiffusersOptions) -> dict[str, Any]:
    side = {
        "type": "integer",
        "minimum": o.size_multiple,
        "maximum": o.max_side,
        "multipleOf": o.size_multiple,
    }
    return {
        "width": {**side, "title": "Width", "description": "Width in pixels."},
        "height": {**side, "title": "Height", "description": "Height in pixels."},
        "aspect_ratio": {
            "type": "string",
            "title": "Aspect ratio",
            "description": "Shape of the result when width or height is missing.",
            "enum": list(ASPECT_RATIOS),
        },
    }


def _output_fields(o: DiffusersOptions, modality: str) -> dict[str, Any]:
    """How many images and in which format, how long a clip, or how long a sound and in which
    format."""
    props: dict[str, Any] = {}
    if modality == "image":
        props["num_images"] = {
            "type": "integer",
            "title": "Images",
            "description": "How many images; image i uses seed + i.",
            "default": 1,
            "minimum": 1,
            "maximum": o.max_images,
        }
        props["output_format"] = {"type": "string", "enum": list(IMAGE_FORMATS), "default": "png"}
    elif modality == "video":
        props["num_frames"] = {
            "type": "integer",
            "title": "Frames",
            "description": "Length of the clip in frames.",
            "default": o.default_frames,
            "minimum": 1,
            "maximum": o.max_frames,
        }
        props["fps"] = {
            "type": "number",
            "title": "Frames per second",
            "default": o.default_fps,
            "exclusiveMinimum": 0,
            "maximum": 120,
        }
    else:
        props["duration"] = {
            "type": "number",
            "title": "Duration (s)",
            "description": "Length of the audio in seconds.",
            "default": o.default_audio_seconds,
            "exclusiveMinimum": 0,
            "maximum": o.max_audio_seconds,
        }
        props["output_format"] = {"type": "string", "enum": list(AUDIO_FORMATS), "default": "wav"}
    return props
