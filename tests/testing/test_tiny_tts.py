"""The tiny VITS text-to-speech model: loaded offline through transformers' own pipeline and
model, in either speaker's voice, longer speech for longer text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import numpy as np
import torch

from genq.testing import tiny

SHORT = "Hi!"
LONG = "Hello world, a red cat and a blue dog are walking in the rain at night."


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    return tiny.make_tiny(tmp_path_factory.mktemp("tiny"), ["tts"])["tts"]


@pytest.fixture(scope="module")
def speaker(folder: Path) -> Any:
    from transformers import pipeline

    # transformers' type hints do not list text-to-speech, its alias of text-to-audio.
    make: Any = pipeline
    return make("text-to-speech", model=str(folder))


def test_tts_pipeline(speaker: Any) -> None:
    """The pipeline gives 16 kHz mono samples, more of them for a longer text."""
    assert type(speaker.model).__name__ == "VitsModel"
    short = speaker(SHORT)
    assert short["sampling_rate"] == tiny.TTS_SAMPLING_RATE
    audio = short["audio"]
    assert isinstance(audio, np.ndarray)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert len(audio) % tiny.TTS_HOP == 0
    assert np.isfinite(audio).all()
    assert len(speaker(LONG)["audio"]) > len(audio)


def test_tts_pipeline_speaker(speaker: Any) -> None:
    """forward_params picks a speaker; one out of range is refused."""
    for speaker_id in range(tiny.TTS_SPEAKERS):
        audio = speaker(SHORT, forward_params={"speaker_id": speaker_id})["audio"]
        assert audio.ndim == 1
        assert len(audio) > 0
    with pytest.raises(ValueError, match="speaker_id"):
        speaker(SHORT, forward_params={"speaker_id": tiny.TTS_SPEAKERS})


def test_tts_model(folder: Path) -> None:
    """VitsModel with its tokenizer: a character between every two <pad>s, a waveform of
    (batch, samples) with each text's length in samples, the same length every time."""
    from transformers import AutoTokenizer, VitsModel

    model: Any = VitsModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.sampling_rate == tiny.TTS_SAMPLING_RATE
    assert model.config.num_speakers == tiny.TTS_SPEAKERS
    # Upper case is lowered; a character the vocabulary lacks is dropped.
    inputs = tokenizer("Hi;!", return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(inputs.input_ids[0].tolist()) == [
        "<pad>",
        "h",
        "<pad>",
        "i",
        "<pad>",
        "!",
        "<pad>",
    ]
    with torch.no_grad():
        first = model(**inputs, speaker_id=1)
        again = model(**inputs, speaker_id=1)
    assert first.waveform.shape == (1, first.sequence_lengths[0])
    assert again.waveform.shape == first.waveform.shape

    batch = tokenizer([SHORT, LONG], padding=True, return_tensors="pt")
    with torch.no_grad():
        output = model(**batch, speaker_id=0)
    short, long = output.sequence_lengths.tolist()
    assert output.waveform.shape == (2, long)
    assert 0 < short < long
