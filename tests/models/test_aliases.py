"""Model aliases: the vendor slugs shipped by default, the config's own, and their errors."""

from __future__ import annotations

import pytest

from genq.errors import ConfigError, Missing, ValidationFailed
from genq.models.aliases import DEFAULT_ALIASES
from genq.models.registry import ModelRegistry

#: Every model slug the vendor documents use, and what it makes.
SEED_SLUGS = {
    "Qwen/Qwen-Image": "image",
    "hkchengrex/MMAudio": "audio",
    "text2video": "video",
    "text2image": "image",
    "qwen-image-2-0-pro": "image",
    "kling-video-o3-pro-reference-to-video": "video",
    "seedream-4.5": "image",
    # Well-known Replicate and fal slugs, so that their clients' examples run as written.
    "black-forest-labs/flux-schnell": "image",
    "black-forest-labs/flux-dev": "image",
    "stability-ai/sdxl": "image",
    "meta/meta-llama-3-8b-instruct": "text",
    "minimax/video-01": "video",
    "meta/musicgen": "audio",
    "fal-ai/flux/schnell": "image",
    "fal-ai/flux/dev": "image",
    "fal-ai/fast-sdxl": "image",
    "fal-ai/ltx-video": "video",
    "fal-ai/stable-audio": "audio",
    "fal-ai/any-llm": "text",
}
#: Slugs that name a task: the first configured model doing it, none out of the box.
TASK_SLUGS = {"openai/whisper": "automatic-speech-recognition"}


def test_every_seed_slug_maps_to_a_demo_model_of_its_modality() -> None:
    """Out of the box each vendor slug resolves to an available demo model of the right kind."""
    registry = ModelRegistry()
    assert set(DEFAULT_ALIASES) == set(SEED_SLUGS) | set(TASK_SLUGS)
    for slug, task in TASK_SLUGS.items():
        assert DEFAULT_ALIASES[slug] == {"task": task}
        with pytest.raises(Missing):
            registry.resolve(slug)
    for slug, modality in SEED_SLUGS.items():
        model, alias = registry.resolve(slug)
        assert alias is not None
        assert alias.name == slug
        assert model.model.modality == modality
        assert model.name.startswith("demo-")
        assert not model.missing


def test_a_models_own_name_resolves_without_alias() -> None:
    """A model's own name resolves to it with no alias; an unknown name is model_not_found."""
    model, alias = ModelRegistry().resolve("demo-image")
    assert (model.name, alias) == ("demo-image", None)
    with pytest.raises(Missing) as caught:
        ModelRegistry().resolve("no/such-model")
    assert caught.value.code == "model_not_found"


def test_config_aliases_override_defaults_and_add_new_names() -> None:
    """A configured alias replaces a default one of the same name and may add new names,
    in the short (`slug = "model"`) or the table form."""
    registry = ModelRegistry(
        aliases={
            "seedream-4.5": "demo-video",
            "my-images": {"model": "demo-image", "input": {"steps": 3}},
        }
    )
    assert registry.get("seedream-4.5").name == "demo-video"
    model, alias = registry.resolve("my-images")
    assert model.name == "demo-image"
    assert alias is not None
    assert alias.input == {"steps": 3}
    assert "my-images" in registry.aliases_of("demo-image")


def test_disabling_a_model_drops_its_default_aliases() -> None:
    """A default alias of a model the config disables is left out, not an error."""
    registry = ModelRegistry({"demo-video": {"enabled": False}})
    with pytest.raises(Missing):
        registry.resolve("text2video")
    assert registry.get("text2image").name == "demo-image"


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        ({"x": "no-such-model"}, "is not a registered model"),
        ({"demo-image": "demo-video"}, "already a model's own name"),
        ({"x": {"model": "demo-image", "colour": "red"}}, "unknown keys colour"),
        ({"x": {"model": "demo-image", "input": 3}}, "input must be a table"),
        ({"x": {"model": "demo-image", "input_schema": {"type": "nope"}}}, "not valid"),
        ({"x": {"model": "demo-image", "price": {"per_image": 1}}}, "price"),
    ],
)
def test_bad_alias_tables_stop_start_up(aliases: dict, message: str) -> None:
    """A configured alias that names no model, shadows a model or is malformed is a config
    error naming it."""
    with pytest.raises(ConfigError, match=message):
        ModelRegistry(aliases=aliases)


def test_vendor_schema_checks_fields_and_names_them() -> None:
    """qwen-image-2-0-pro carries MindVideo's schema: enum sizes, n 1-6, prompt 1-800 chars,
    no other properties; each violation names its field."""
    _, alias = ModelRegistry().resolve("qwen-image-2-0-pro")
    assert alias is not None
    alias.check({"prompt": "x", "size": "16:9", "resolution": "2K", "n": 6})
    bad = {"prompt": "", "size": "5:4", "n": 7, "colour": "red", "resolution": "8K"}
    with pytest.raises(ValidationFailed) as caught:
        alias.check(bad)
    paths = {d["path"] for d in caught.value.details}
    assert paths == {"input/colour", "input/prompt", "input/size", "input/n", "input/resolution"}


def test_an_alias_may_have_its_own_price() -> None:
    """A priced alias sets the cost of jobs submitted by it; the model keeps its own price
    for jobs that name it, and for an alias that has none."""
    registry = ModelRegistry(
        aliases={
            "pricey": {"model": "demo-image", "price": {"per_output": 0.5}},
            "plain": "demo-image",
        }
    )
    model = registry.get("demo-image")
    assert registry.price_for("demo-image", "pricey").cost(2, 0) == 1.0
    assert registry.price_for("demo-image", "plain") == model.price
    assert registry.price_for("demo-image", None) == model.price
    # An alias that names another model (changed in the config since) does not apply.
    assert registry.price_for("demo-video", "pricey") == registry.get("demo-video").price
