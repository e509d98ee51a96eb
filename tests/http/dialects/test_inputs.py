"""Vendor request fields become the local model's inputs, within the model's own limits."""

from __future__ import annotations

import pytest

from genq.errors import ValidationFailed
from genq.http.dialects.inputs import model_input
from genq.models.registry import ModelRegistry

REGISTRY = ModelRegistry(
    {
        "tiny-sd": {
            "runtime": "diffusers",
            "source": "/nonexistent",
            "task": "text-to-image",
            "max_side": 1024,
            "size_multiple": 16,
        },
        "tiny-video": {"runtime": "diffusers", "source": "/nonexistent", "task": "text-to-video"},
    }
)


def translate(model: str, fields: dict, **options: object) -> dict:
    return model_input(fields, REGISTRY.get(model), **options)  # type: ignore[arg-type]


def test_netmind_example_config_maps_onto_demo_image() -> None:
    """NetMind's Qwen-Image config: a named size becomes pixels, steps and count carry over,
    and fields the model lacks are left out."""
    config = {
        "prompt": "Generate a cup of coffee",
        "image_size": "landscape_4_3",
        "num_inference_steps": 30,
        "guidance_scale": 2.5,
        "num_images": 1,
        "enable_safety_checker": True,
        "output_format": "png",
        "acceleration": "none",
    }
    assert translate("Qwen/Qwen-Image", config) == {
        "prompt": "Generate a cup of coffee",
        "width": 1024,
        "height": 768,
        "steps": 30,
        "num_images": 1,
        "output_format": "png",
    }


def test_ratio_and_k_resolution_give_pixels() -> None:
    """MindVideo's size 16:9 with resolution 2K is 2048x1152; n is the image count."""
    fields = {"prompt": "city", "size": "16:9", "resolution": "2K", "n": 3}
    assert translate("demo-image", fields) == {
        "prompt": "city",
        "width": 2048,
        "height": 1152,
        "num_images": 3,
    }


def test_line_resolution_is_the_shorter_side() -> None:
    """A resolution of 720 (or "720p") is the shorter side: 1280x720 at 16:9, 720x1280 at 9:16."""
    wide = translate("demo-image", {"prompt": "x", "aspect_ratio": "16:9", "resolution": 720})
    tall = translate("demo-image", {"prompt": "x", "aspect_ratio": "9:16", "resolution": "720p"})
    assert (wide["width"], wide["height"]) == (1280, 720)
    assert (tall["width"], tall["height"]) == (720, 1280)


def test_a_model_without_width_gets_the_nearest_aspect_ratio() -> None:
    """demo-video takes only an aspect ratio: a pixel size maps to the nearest one it has."""
    assert translate("demo-video", {"prompt": "x", "image_size": "landscape_16_9"}) == {
        "prompt": "x",
        "aspect_ratio": "16:9",
    }
    assert translate("demo-video", {"prompt": "x", "aspect_ratio": "2.39:1"})["aspect_ratio"] == (
        "21:9"
    )


def test_sizes_fit_the_models_largest_side_and_multiple() -> None:
    """A size over the model's largest side is scaled down, keeping its shape, and rounded to
    the multiple its sides must be."""
    fields = {"prompt": "x", "image_size": {"width": 3000, "height": 1000}}
    assert translate("tiny-sd", fields) | {"prompt": "x"} == {
        "prompt": "x",
        "width": 1024,
        "height": 336,
    }


def test_names_differ_between_models() -> None:
    """Steps and guidance go to the names the target model uses; duration becomes frames at
    the model's default fps where it counts frames."""
    image = translate("tiny-sd", {"prompt": "x", "num_inference_steps": 12, "cfg_scale": 4})
    assert (image["steps"], image["guidance"]) == (12, 4)
    video = translate("tiny-video", {"prompt": "x", "duration": "2s"})
    fps = REGISTRY.get("tiny-video").model.input_schema["properties"]["fps"]["default"]
    assert video["num_frames"] == 2 * fps


def test_random_seed_words_are_dropped() -> None:
    """A seed of -1 means "pick one": the model then derives its own."""
    assert "seed" not in translate("demo-image", {"prompt": "x", "seed": -1})
    assert translate("demo-image", {"prompt": "x", "seed": 7})["seed"] == 7


def test_strict_translation_names_every_field_it_cannot_place() -> None:
    """With strict=True a field the model has no place for is refused, naming it: unknown
    ones, and known vendor fields the model lacks (guidance, duration on an image model)."""
    fields = {"prompt": "x", "style": "anime", "guidance_scale": 3, "duration": 5}
    with pytest.raises(ValidationFailed) as caught:
        translate("demo-image", fields, strict=True)
    paths = [d["path"] for d in caught.value.details]
    assert sorted(paths) == ["input/duration", "input/guidance_scale", "input/style"]
    # Without strict they are left out.
    assert translate("demo-image", fields) == {"prompt": "x"}


def test_null_fields_are_unset_ones() -> None:
    """A field sent as null is treated as not sent, whatever its name."""
    fields = {"prompt": "x", "num_images": None, "n": None, "style": None, "seed": None}
    assert translate("demo-image", fields, strict=True) == {"prompt": "x"}


def test_error_paths_start_where_the_fields_sit() -> None:
    """Errors name fields under the root they have in the vendor's request ("" for the top)."""
    with pytest.raises(ValidationFailed) as caught:
        translate("demo-image", {"prompt": "x", "size": "huge"}, root="config")
    assert caught.value.details[0]["path"] == "config/size"
    with pytest.raises(ValidationFailed) as caught:
        translate("demo-image", {"prompt": "x", "size": "huge"}, root="")
    assert caught.value.details[0]["path"] == "size"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"prompt": "x", "size": "huge"}, "input/size"),
        ({"prompt": "x", "aspect_ratio": "16:0"}, "input/aspect_ratio"),
        ({"prompt": "x", "resolution": "8 bits"}, "input/resolution"),
        ({"prompt": "x", "duration": "long"}, "input/duration"),
        ({"prompt": "x", "image_size": {"w": 1}}, "input/image_size"),
        ({"prompt": "x", "size": "1024x0"}, "input/size"),
        ({"prompt": "x", "width": 512, "height": 0}, "input/height"),
        ({"prompt": "x", "width": -5, "height": 5}, "input/width"),
        ({"prompt": "x", "resolution": "0p"}, "input/resolution"),
        ({"prompt": "x", "duration": "nan"}, "input/duration"),
        ({"prompt": "x", "duration": "inf"}, "input/duration"),
        ({"prompt": "x", "duration": 0}, "input/duration"),
    ],
)
def test_unreadable_values_name_their_field(fields: dict, path: str) -> None:
    """A shape, resolution or duration that cannot be read, or is not positive and finite, is
    a 422 naming the field."""
    with pytest.raises(ValidationFailed) as caught:
        translate("demo-video" if "duration" in fields else "demo-image", fields)
    assert caught.value.details[0]["path"] == path
