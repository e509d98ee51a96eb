"""The tiny Whisper model: loaded offline through transformers' own pipeline and generate, on
short and long audio, in each task, with segment and word timestamps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import numpy as np
import torch

from genq.testing import tiny

RATE = tiny.WHISPER_SAMPLING_RATE


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    return tiny.make_tiny(tmp_path_factory.mktemp("tiny"), ["whisper"])["whisper"]


@pytest.fixture(scope="module")
def asr(folder: Path) -> Any:
    from transformers import pipeline

    return pipeline("automatic-speech-recognition", model=str(folder))


@pytest.fixture(scope="module")
def features(folder: Path) -> torch.Tensor:
    """Three seconds of noise as Whisper's model input: 80 mel bins by 3000 frames (30 s)."""
    from transformers import WhisperProcessor

    processor = WhisperProcessor.from_pretrained(folder)
    return processor(_noise(3), sampling_rate=RATE, return_tensors="pt").input_features


def _noise(seconds: float) -> np.ndarray:
    samples = np.random.default_rng(0).standard_normal(int(seconds * RATE))
    return (0.1 * samples).astype(np.float32)


def _check_chunks(chunks: list[dict[str, Any]], seconds: float) -> None:
    assert chunks
    for chunk in chunks:
        assert isinstance(chunk["text"], str)
        start, end = chunk["timestamp"]
        assert isinstance(start, float)
        assert 0.0 <= start <= seconds
        assert end is None or start <= end <= seconds


def test_whisper_tokens(folder: Path) -> None:
    """The tokenizer has Whisper's special tokens in Whisper's order, the timestamps last, and
    exactly as many tokens as the model has logits."""
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    assert type(tokenizer).__name__ == "WhisperTokenizer"
    assert len(tokenizer) == config.vocab_size

    def ids(*tokens: str) -> list[int]:
        return [tiny.token_id(tokenizer, token) for token in tokens]

    start = ids("<|startoftranscript|>")[0]
    assert ids("<|endoftext|>") == [start - 1]
    # transformers finds a language's token by its place in this table.
    assert ids("<|en|>", "<|de|>", "<|fr|>", "<|es|>") == [
        start + 1,
        start + 3,
        start + 7,
        start + 4,
    ]
    languages = ids(*(f"<|{code}|>" for code in tiny.whisper_languages()))
    assert languages == list(range(start + 1, start + 101))
    assert ids(
        "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"
    ) == list(range(start + 101, start + 106))
    no_timestamps = ids("<|notimestamps|>")[0]
    assert tokenizer.all_special_ids[-1] == no_timestamps
    assert ids("<|0.00|>", "<|0.02|>", "<|30.00|>") == [
        no_timestamps + 1,
        no_timestamps + 2,
        config.vocab_size - 1,
    ]
    text = tokenizer.decode(tokenizer("a red cat").input_ids, skip_special_tokens=True)
    assert text == "a red cat"


def test_whisper_pipeline_transcribes(asr: Any) -> None:
    """A 3-second array gives a text, whatever random weights make of it."""
    result = asr(_noise(3))
    assert set(result) == {"text"}
    assert isinstance(result["text"], str)


@pytest.mark.parametrize(("language", "task"), [("en", "transcribe"), ("de", "translate")])
def test_whisper_language_and_task(
    asr: Any, features: torch.Tensor, language: str, task: str
) -> None:
    """A language and a task can be asked for, and the decoder starts with their tokens."""
    result = asr(_noise(3), generate_kwargs={"language": language, "task": task})
    assert isinstance(result["text"], str)

    prompts: list[list[str]] = []

    def record(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        prompts.append(asr.tokenizer.convert_ids_to_tokens(input_ids[0].tolist()))
        return scores

    asr.model.generate(features, language=language, task=task, logits_processor=[record])
    assert prompts[0] == [
        "<|startoftranscript|>",
        f"<|{language}|>",
        f"<|{task}|>",
        "<|notimestamps|>",
    ]


def test_whisper_segment_timestamps(asr: Any) -> None:
    """return_timestamps=True gives segments, each with a (start, end) in the audio's window."""
    result = asr(_noise(3), return_timestamps=True)
    assert isinstance(result["text"], str)
    _check_chunks(result["chunks"], 30.0)


def test_whisper_word_timestamps(asr: Any) -> None:
    """return_timestamps="word" aligns each word with the audio through the cross-attention
    heads named in the generation config."""
    result = asr(_noise(3), return_timestamps="word")
    assert isinstance(result["text"], str)
    _check_chunks(result["chunks"], 3.0)
    assert "".join(chunk["text"] for chunk in result["chunks"]).strip() == result["text"].strip()


def test_whisper_long_audio_in_windows(asr: Any) -> None:
    """70 seconds go through in 30-second windows; timestamps count from the audio's start."""
    result = asr(_noise(70), chunk_length_s=30, return_timestamps=True)
    assert isinstance(result["text"], str)
    _check_chunks(result["chunks"], 70.0)


def test_whisper_batch(asr: Any) -> None:
    """Clips of different lengths go through in one batch, with timestamps, in another
    language; <|endoftext|> pads the batch."""
    assert asr.tokenizer.pad_token == "<|endoftext|>"
    # Segment timestamps: transformers' word timestamps for clips of different lengths in one
    # batch call numpy.repeat on a tensor, which NumPy 2 warns about (an error in this suite).
    results = asr(
        [_noise(3), _noise(2)],
        batch_size=2,
        return_timestamps=True,
        generate_kwargs={"language": "fr", "task": "transcribe"},
    )
    assert len(results) == 2
    for result in results:
        assert isinstance(result["text"], str)
        _check_chunks(result["chunks"], 30.0)


def test_whisper_generate_with_timestamps(folder: Path, features: torch.Tensor) -> None:
    """model.generate(input_features, return_timestamps=True) ends within the generation
    config's length and decodes with its timestamps."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model: Any = WhisperForConditionalGeneration.from_pretrained(folder)
    processor = WhisperProcessor.from_pretrained(folder)
    assert features.shape == (1, 80, 3000)
    output = model.generate(features, return_timestamps=True)
    assert output.shape[0] == 1
    assert output.shape[1] <= tiny.WHISPER_MAX_LENGTH
    (text,) = processor.batch_decode(output, skip_special_tokens=True, decode_with_timestamps=True)
    assert isinstance(text, str)
    assert "<|" in text
