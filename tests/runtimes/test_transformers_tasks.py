"""The transformers runtime's tasks in the registry, without loading a model: the class each
task picks, the config errors, the input schemas built from a model's config, and aliases
that name a task instead of a model."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from genq.errors import ConfigError, Missing
from genq.models import aliases
from genq.models.registry import ModelRegistry

TASKS = {
    "text-generation": ("TextGenerationModel", "text"),
    "automatic-speech-recognition": ("SpeechRecognitionModel", "text"),
    "text-to-speech": ("TextToSpeechModel", "audio"),
    "image-to-text": ("ImageToTextModel", "text"),
}


def table(task: str | None = None, source: str = "/nowhere", **keys: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"runtime": "transformers", "source": source, **keys}
    if task is not None:
        entry["task"] = task
    return entry


@pytest.mark.parametrize("task", list(TASKS))
def test_each_task_picks_its_class_modality_and_task(task: str) -> None:
    """A transformers table's task picks the class; the model says its task and modality."""
    registered = ModelRegistry({"m": table(task)}).get("m")
    model = registered.model
    assert (type(model).__name__, model.modality) == TASKS[task]
    assert model.task == task
    assert registered.describe()["task"] == task


def test_a_table_without_a_task_is_text_generation() -> None:
    """Tables written before tasks existed keep their meaning and their options."""
    model = ModelRegistry({"llm": table(default_max_tokens=9)}).get("llm").model
    assert model.task == "text-generation"
    assert model.input_schema["properties"]["max_tokens"]["default"] == 9


def test_an_unknown_task_is_a_config_error_naming_the_known_ones() -> None:
    """A task the runtime does not have stops start-up with the tasks it has."""
    with pytest.raises(ConfigError) as caught:
        ModelRegistry({"m": table("summarization")})
    message = str(caught.value)
    assert "[models.m].task 'summarization'" in message
    assert all(task in message for task in TASKS)


@pytest.mark.parametrize("task", [["image-to-text"], {"name": "image-to-text"}])
def test_a_task_that_is_not_a_string_is_a_config_error(task: Any) -> None:
    """A list or a table for a model's task is refused as the config's mistake."""
    with pytest.raises(ConfigError, match="is not a task of the transformers runtime"):
        ModelRegistry({"m": table(task)})


def test_an_alias_may_name_a_task_no_model_does_yet() -> None:
    """A known task with no model configured for it (another runtime's, here), and a task a
    disabled model does, are no mistake: the alias is just not found."""
    registry = ModelRegistry(
        {"w": table(ASR, enabled=False)},
        aliases={"pictures": {"task": "text-to-image"}, "speech": {"task": ASR}},
    )
    assert "pictures" not in registry.aliases
    assert "speech" not in registry.aliases


def test_task_options_are_checked_per_task() -> None:
    """Each task takes its own options: a speech recognition option is refused elsewhere."""
    asr = ModelRegistry({"m": table("automatic-speech-recognition", chunk_seconds=20)})
    assert getattr(asr.get("m").model.options, "chunk_seconds", None) == 20
    with pytest.raises(ConfigError, match="chunk_seconds"):
        ModelRegistry({"m": table("image-to-text", chunk_seconds=20)})


def test_speech_recognition_takes_an_audio_reference(tmp_path: Path) -> None:
    """The audio input is an audio reference, refused at submit when it is not one."""
    from genq.errors import ValidationFailed

    registered = ModelRegistry({"m": table("automatic-speech-recognition")}).get("m")
    audio = registered.model.input_schema["properties"]["audio"]
    assert audio["format"] == "audio-reference"
    assert audio["x-playground"]["uploadKind"] == "audio"
    filled = registered.validate({"audio": "https://example.com/a.wav"})
    assert (filled["task"], filled["timestamps"]) == ("transcribe", "none")
    with pytest.raises(ValidationFailed):
        registered.validate({"audio": "data:text/plain;base64,aGVsbG8="})


def test_a_speaker_input_only_for_models_with_several(tmp_path: Path) -> None:
    """The speaker input is there, bounded, when the config has several speakers."""
    for speakers in (1, 3):
        folder = tmp_path / f"tts-{speakers}"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"num_speakers": speakers}))
        schema = ModelRegistry({"m": table("text-to-speech", str(folder))}).get("m")
        properties = schema.model.input_schema["properties"]
        if speakers == 1:
            assert "speaker" not in properties
        else:
            assert (properties["speaker"]["minimum"], properties["speaker"]["maximum"]) == (0, 2)


# -- aliases by task -----------------------------------------------------------------------
ASR = "automatic-speech-recognition"


def test_an_alias_by_task_names_the_first_model_of_that_task() -> None:
    """Of two speech recognition models the first configured one is the alias's; listings
    name the alias with it."""
    registry = ModelRegistry(
        {"llm": table(), "whisper-a": table(ASR), "whisper-b": table(ASR)},
        aliases={"speech": {"task": ASR, "input": {"timestamps": "segment"}}},
    )
    model, alias = registry.resolve("speech")
    assert model.name == "whisper-a"
    assert alias is not None
    assert (alias.task, alias.input) == (ASR, {"timestamps": "segment"})
    assert "speech" in registry.aliases_of("whisper-a")
    assert "speech" not in registry.aliases_of("whisper-b")


def test_an_alias_by_task_without_such_a_model_is_not_found() -> None:
    """With no model of its task the alias is no name at all: model_not_found, and no
    model lists it."""
    registry = ModelRegistry({"llm": table()}, aliases={"speech": {"task": ASR}})
    with pytest.raises(Missing) as caught:
        registry.resolve("speech")
    assert caught.value.code == "model_not_found"
    assert all("speech" not in registry.aliases_of(name) for name in registry.names())


def test_a_disabled_model_passes_its_task_aliases_on() -> None:
    """Disabling the first model of a task moves its task aliases to the next one."""
    registry = ModelRegistry(
        {"whisper-a": table(ASR, enabled=False), "whisper-b": table(ASR)},
        aliases={"speech": {"task": ASR}},
    )
    assert registry.get("speech").name == "whisper-b"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"task": ASR, "model": "demo-text"}, "both a model and a task"),
        ({"task": ""}, "task must be a task's name"),
        ({"task": 3}, "task must be a task's name"),
        ({"task": [ASR]}, "task must be a task's name"),
        # A typo: no runtime and no model knows it. The message names those that are.
        (
            {"task": "speech-recognition"},
            "'speech-recognition' is not a task: use one of .*"
            "automatic-speech-recognition, .*text-to-image",
        ),
    ],
)
def test_bad_aliases_by_task_stop_start_up(entry: dict[str, Any], message: str) -> None:
    """An alias with both a model and a task, or a task that is no name or that no runtime
    knows, is a config error."""
    with pytest.raises(ConfigError, match=message):
        ModelRegistry({"w": table(ASR)}, aliases={"speech": entry})


def test_the_api_process_builds_every_task_without_torch(tmp_path: Path) -> None:
    """An app with a model of each task, one a hub id, imports neither torch nor
    transformers: the schemas come from config.json alone."""
    folder = tmp_path / "tts"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"num_speakers": 2}))
    models = {task: table(task, str(folder)) for task in TASKS}
    models["hub"] = table("text-to-speech", "someone/some-voice")
    code = f"""
import sys
from genq.server import build_app
from genq.settings import Settings
app = build_app(Settings(data_dir={str(tmp_path / "data")!r}, models={models!r}))
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_default_alias_by_task_follows_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialect's default alias by task names the configured model of that task, is not
    found without one, and a configured alias of its name replaces it, even one that finds
    no model."""
    monkeypatch.setattr(aliases, "DEFAULT_ALIASES", {"vendor/asr": {"task": ASR}})
    assert ModelRegistry({"w": table(ASR)}).get("vendor/asr").name == "w"
    with pytest.raises(Missing):
        ModelRegistry({"llm": table()}).resolve("vendor/asr")
    hidden = ModelRegistry({"w": table(ASR)}, aliases={"vendor/asr": {"task": "text-to-speech"}})
    with pytest.raises(Missing):
        hidden.resolve("vendor/asr")


@pytest.mark.parametrize(
    ("size", "fetched"),
    [
        # The shortest side brought up to 224, the longest held to four times that.
        ({"shortest_edge": 224}, (1, 896)),
        ({"shortest_edge": 224, "longest_edge": 500}, (1, 500)),
    ],
)
def test_a_thin_strip_is_fetched_at_a_bounded_size(
    size: dict[str, int], fetched: tuple[int, int]
) -> None:
    """A 1x20000 PNG (157 bytes) is not scaled up to 224x4480000 for a processor that brings
    the shortest side to 224."""
    pytest.importorskip("transformers")
    from transformers import CLIPImageProcessor

    from genq.media.fetch import fetch_image
    from genq.runtimes.image_to_text import reference_size

    buffer = io.BytesIO()
    Image.new("RGB", (1, 20_000)).save(buffer, "PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    resize = reference_size(CLIPImageProcessor(size=size))
    image = fetch_image(uri, max_bytes=1 << 20, max_pixels=25_000_000, size=resize)
    assert image.size == fetched
    # An image of a usual shape is scaled as before.
    assert resize(640, 480) == (299, 224)
