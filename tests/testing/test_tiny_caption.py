"""The tiny BLIP captioning model: loaded offline through transformers' own pipeline and
generate, with and without a text prompt, streamed token by token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import numpy as np
from PIL import Image

from genq.testing import tiny


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    return tiny.make_tiny(tmp_path_factory.mktemp("tiny"), ["caption"])["caption"]


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    # Not square and not the model's size: the processor resizes it.
    return Image.fromarray(np.linspace(0, 255, 48 * 64 * 3).reshape(48, 64, 3).astype("uint8"))


@pytest.fixture(scope="module")
def captioner(folder: Path) -> Any:
    from transformers import pipeline

    # transformers 5 maps the old task name, image-to-text, to this one, but its notice of that is
    # malformed and raises under pytest's log capture.
    return pipeline("image-text-to-text", model=str(folder))


def test_caption_pipeline(captioner: Any, picture: Image.Image) -> None:
    """An empty prompt gives a caption; a prompt is continued, and comes back at the start of
    the generated text."""
    assert type(captioner.model).__name__ == "BlipForConditionalGeneration"
    (caption,) = captioner(images=picture, text="")
    assert caption["input_text"] == ""
    assert isinstance(caption["generated_text"], str)
    (answer,) = captioner(images=picture, text="question: what is it? answer:")
    assert answer["generated_text"].startswith("question: what is it? answer:")


def test_caption_pipeline_batch(captioner: Any, picture: Image.Image) -> None:
    """Two pictures with two prompts give two texts, each starting with its prompt."""
    results = captioner(images=[picture, picture.rotate(90)], text=["a red", "a photo of"])
    assert [result["input_text"] for result in results] == ["a red", "a photo of"]
    assert results[1]["generated_text"].startswith("a photo of")


def test_caption_generate_streams(
    folder: Path, picture: Image.Image, capsys: pytest.CaptureFixture[str]
) -> None:
    """model.generate on the processor's output makes at most the asked number of tokens, the
    generation config's by default, and a TextStreamer prints the same text."""
    from transformers import AutoModelForImageTextToText, AutoProcessor, TextStreamer

    model: Any = AutoModelForImageTextToText.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    # Every id the model can pick is a token, so a caption is never made of ids without text.
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    inputs = processor(images=picture, text="a photo of", return_tensors="pt")
    size = tiny.CAPTION_IMAGE_SIZE
    assert inputs.pixel_values.shape == (1, 3, size, size)
    # The processor wraps the prompt in [CLS] ... [SEP]; generate starts from [DEC] instead.
    tokens = processor.tokenizer.convert_ids_to_tokens(inputs.input_ids[0].tolist())
    assert tokens == ["[CLS]", "a", "photo", "of", "[SEP]"]

    capsys.readouterr()
    streamer = TextStreamer(processor.tokenizer, skip_special_tokens=True)
    output = model.generate(**inputs, max_new_tokens=4, streamer=streamer)
    prompt = inputs.input_ids.shape[1] - 1
    assert prompt < output.shape[1] <= prompt + 4
    assert processor.tokenizer.convert_ids_to_tokens(output[0, :prompt].tolist()) == [
        "[DEC]",
        "a",
        "photo",
        "of",
    ]
    text = processor.decode(output[0], skip_special_tokens=True)
    assert text.startswith("a photo of")
    assert capsys.readouterr().out.strip() == text.strip()

    output = model.generate(**processor(images=picture, return_tensors="pt"))
    assert 1 < output.shape[1] <= 1 + tiny.CAPTION_MAX_NEW_TOKENS
