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
    target, alias = REGISTRY.resolve(model)
    return model_input(fields, target, alias, **options)  # type: ignore[arg-type]


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


def test_strict_translation_names_an_unknown_field() -> None:
    """With strict=True a field the model does not have is refused, naming it."""
    with pytest.raises(ValidationFailed) as caught:
        translate("demo-image", {"prompt": "x", "style": "anime"}, strict=True)
    assert caught.value.details == [
        {"path": "input/style", "message": "demo-image has no input 'style'"}
    ]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"prompt": "x", "size": "huge"}, "input/size"),
        ({"prompt": "x", "aspect_ratio": "16:0"}, "input/aspect_ratio"),
        ({"prompt": "x", "resolution": "8 bits"}, "input/resolution"),
        ({"prompt": "x", "duration": "long"}, "input/duration"),
        ({"prompt": "x", "image_size": {"w": 1}}, "input/image_size"),
    ],
)
def test_unreadable_values_name_their_field(fields: dict, path: str) -> None:
    """A shape, resolution or duration that cannot be read is a 422 naming the field."""
    with pytest.raises(ValidationFailed) as caught:
        translate("demo-video" if "duration" in fields else "demo-image", fields)
    assert caught.value.details[0]["path"] == path


def test_alias_inputs_are_defaults_under_the_request() -> None:
    """An alias's own inputs apply unless the request sets them."""
    registry = ModelRegistry(
        aliases={"fast-image": {"model": "demo-image", "input": {"steps": 2, "seed": 1}}}
    )
    target, alias = registry.resolve("fast-image")
    assert model_input({"prompt": "x", "seed": 5}, target, alias) == {
        "prompt": "x",
        "steps": 2,
        "seed": 5,
    }
