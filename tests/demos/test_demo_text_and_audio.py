"""demo-text and demo-audio run for real: streamed text is compared with the file it makes,
and sound is decoded back and measured."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from genq.demos.audio import DemoAudio
from genq.demos.text import CORPUS, DemoText
from genq.media.encode import AUDIO_FORMATS
from genq.models.base import Model, Stopped
from tests.demos.test_demo_models import RecordingContext, run

CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}


def decode(path: Path) -> tuple[np.ndarray, int]:
    soundfile = pytest.importorskip("soundfile")
    samples, rate = soundfile.read(path, dtype="float32")
    return samples, rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [DemoText, DemoAudio])
def test_input_schema_is_valid_and_defaults_validate(model_cls: type[Model]) -> None:
    """Each schema is a valid JSON Schema whose defaults satisfy their own properties."""
    schema = model_cls.input_schema
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    defaults = {k: v["default"] for k, v in schema["properties"].items() if "default" in v}
    validator_cls(schema).validate({"prompt": "rain at night", **defaults})
    for key, value in defaults.items():
        validator_cls(schema["properties"][key]).validate(value)
    assert schema["required"] == ["prompt"]
    assert all("x-playground" in spec for spec in schema["properties"].values())


@pytest.mark.parametrize(
    ("model_cls", "input"),
    [
        (DemoText, {"prompt": ""}),
        (DemoText, {"prompt": "x", "max_tokens": 0}),
        (DemoText, {"prompt": "x", "max_tokens": 2049}),
        (DemoText, {"prompt": "x", "temperature": 2.5}),
        (DemoText, {"prompt": "x", "token_delay_ms": 1001}),
        (DemoText, {"prompt": "x", "seed": 2**32}),
        (DemoText, {"prompt": "x", "top_p": 0.9}),
        (DemoAudio, {"prompt": "x", "duration": 0.5}),
        (DemoAudio, {"prompt": "x", "duration": 301}),
        (DemoAudio, {"prompt": "x", "sample_rate": 48000}),
        (DemoAudio, {"prompt": "x", "output_format": "ogg"}),
        (DemoAudio, {"prompt": "x", "seed": -1}),
        (DemoAudio, {"duration": 5}),
    ],
)
def test_schema_rejects_out_of_range_and_unknown_input(
    model_cls: type[Model], input: dict[str, Any]
) -> None:
    """Out-of-range values, unknown keys and a missing prompt fail validation."""
    schema = model_cls.input_schema
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert not validator.is_valid(input)


def test_audio_schema_offers_exactly_the_formats_the_writer_supports() -> None:
    """demo-audio's format choices are the formats encode.write_audio can write."""
    assert DemoAudio.input_schema["properties"]["output_format"]["enum"] == list(AUDIO_FORMATS)


# --- demo-text -------------------------------------------------------------------------------


def test_text_streamed_deltas_equal_the_output_file(tmp_path: Path) -> None:
    """The deltas sent with ctx.text, joined, are exactly the UTF-8 text file published."""
    ctx = run(DemoText(), {"prompt": "how is sound made", "seed": 3}, tmp_path)
    [output] = ctx.outputs
    assert output["content_type"] == "text/plain; charset=utf-8"
    assert output["path"].name == "output.txt"
    assert output["path"].read_bytes().decode("utf-8") == "".join(ctx.texts)


@pytest.mark.parametrize("max_tokens", [1, 2, 17, 300])
def test_text_writes_one_word_per_token_and_ends_with_a_full_stop(
    tmp_path: Path, max_tokens: int
) -> None:
    """max_tokens deltas are streamed, each one word (after the first, with a leading space),
    and the text ends with a full stop."""
    ctx = run(DemoText(), {"prompt": "a picture", "max_tokens": max_tokens}, tmp_path)
    assert len(ctx.texts) == max_tokens
    assert re.fullmatch(r"\S+", ctx.texts[0])
    assert all(re.fullmatch(r" \S+", delta) for delta in ctx.texts[1:])
    text = ctx.outputs[0]["path"].read_text(encoding="utf-8")
    assert len(text.split()) == max_tokens
    assert text.endswith(".")


def test_text_is_made_of_corpus_words_in_capitalised_sentences(tmp_path: Path) -> None:
    """Every word comes from the built-in prose, and every sentence starts with a capital."""
    vocabulary = set(re.findall(r"[a-z]+", CORPUS.lower()))
    ctx = run(DemoText(), {"prompt": "tell me a story", "max_tokens": 400, "seed": 11}, tmp_path)
    text = ctx.outputs[0]["path"].read_text(encoding="utf-8")
    assert set(re.findall(r"[a-z]+", text.lower())) <= vocabulary
    sentences = [s for s in re.split(r"(?<=\.)\s+", text) if s]
    assert len(sentences) > 5
    assert all(sentence[0].isupper() for sentence in sentences)


def test_text_starts_from_a_word_of_the_prompt(tmp_path: Path) -> None:
    """A prompt word the corpus knows (longer ones first) opens the text."""
    ctx = run(DemoText(), {"prompt": "Tell me about the sea", "temperature": 0}, tmp_path)
    assert ctx.texts[0] == "Sea"


def test_text_same_prompt_and_seed_give_identical_text(tmp_path: Path) -> None:
    """Repeating a prompt and seed repeats the text exactly."""
    input = {"prompt": "the worker and the queue", "seed": 42, "max_tokens": 200}
    first = run(DemoText(), input, tmp_path / "a")
    second = run(DemoText(), input, tmp_path / "b")
    assert first.texts == second.texts


def test_text_different_seed_or_prompt_gives_different_text(tmp_path: Path) -> None:
    """Changing the seed or the prompt changes the text."""
    base = {"prompt": "the worker and the queue", "seed": 42, "max_tokens": 100}
    variants = [base, {**base, "seed": 43}, {**base, "prompt": "colours of light"}]
    texts = [
        "".join(run(DemoText(), input, tmp_path / str(i)).texts) for i, input in enumerate(variants)
    ]
    assert len(set(texts)) == 3


def test_text_without_seed_is_reproducible_per_prompt(tmp_path: Path) -> None:
    """Without a seed the prompt picks one (and logs it), so repeating the prompt repeats the
    text."""
    first = run(DemoText(), {"prompt": "rain and wind"}, tmp_path / "a")
    second = run(DemoText(), {"prompt": "rain and wind"}, tmp_path / "b")
    assert first.texts == second.texts
    assert any("seed" in line for line in first.logs)


def test_text_temperature_zero_ignores_the_seed(tmp_path: Path) -> None:
    """At temperature 0 the likeliest word always wins, so the seed makes no difference."""
    texts = {
        "".join(
            run(
                DemoText(),
                {"prompt": "a video", "temperature": 0, "seed": seed},
                tmp_path / str(seed),
            ).texts
        )
        for seed in (1, 2, 3)
    }
    assert len(texts) == 1


def test_text_temperature_changes_the_words(tmp_path: Path) -> None:
    """With the same seed, a different temperature picks different words."""
    input = {"prompt": "a video", "seed": 5, "max_tokens": 200}
    cool = run(DemoText(), {**input, "temperature": 0.3}, tmp_path / "cool")
    hot = run(DemoText(), {**input, "temperature": 2}, tmp_path / "hot")
    assert cool.texts != hot.texts


def test_text_reports_progress_per_token(tmp_path: Path) -> None:
    """demo-text reports one progress step per token, ending at max_tokens."""
    ctx = run(DemoText(), {"prompt": "x", "max_tokens": 12}, tmp_path)
    assert ctx.steps == [(i, 12) for i in range(1, 13)]


@pytest.mark.parametrize("stop_after", [0, 5])
def test_text_stops_when_asked(tmp_path: Path, stop_after: int) -> None:
    """A stop request before or between tokens raises Stopped and publishes nothing."""
    ctx = RecordingContext(tmp_path, stop_after=stop_after)
    with pytest.raises(Stopped):
        DemoText().predict({"prompt": "x", "max_tokens": 50}, ctx)
    assert len(ctx.texts) == len(ctx.steps) == stop_after
    assert ctx.outputs == []


def test_text_token_delay_paces_the_stream(tmp_path: Path) -> None:
    """token_delay_ms pauses between tokens (not after the last) without changing the text."""
    input = {"prompt": "x", "max_tokens": 6, "seed": 1}
    started = time.monotonic()
    slow = run(DemoText(), {**input, "token_delay_ms": 40}, tmp_path / "slow")
    assert time.monotonic() - started >= 5 * 0.04
    fast = run(DemoText(), input, tmp_path / "fast")
    assert slow.texts == fast.texts


def test_text_usage_and_price() -> None:
    """A demo-text job is one output at a flat price."""
    model = DemoText()
    usage = model.usage({"prompt": "x", "max_tokens": 500})
    assert (usage.outputs, usage.media_seconds) == (1, 0.0)
    assert model.price.cost(usage.outputs, usage.media_seconds) == Decimal("0.0005")


# --- demo-audio ------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", AUDIO_FORMATS)
@pytest.mark.parametrize(("sample_rate", "duration"), [(16000, 3), (22050, 2.5), (44100, 1.25)])
def test_audio_decodes_with_requested_length_and_rate(
    tmp_path: Path, output_format: str, sample_rate: int, duration: float
) -> None:
    """Each format decodes to the requested duration (within a frame) and sample rate, audible
    and unclipped."""
    input = {
        "prompt": "rain on a tin roof",
        "duration": duration,
        "sample_rate": sample_rate,
        "output_format": output_format,
    }
    ctx = run(DemoAudio(), input, tmp_path)
    [output] = ctx.outputs
    assert output["content_type"] == CONTENT_TYPES[output_format]
    assert output["path"].suffix == f".{output_format}"
    samples, rate = decode(output["path"])
    assert rate == sample_rate
    assert samples.ndim == 1
    assert abs(samples.size / rate - duration) <= 1 / rate
    assert output["duration"] == pytest.approx(duration, abs=1 / rate)
    assert rms(samples) > 0.05, "the audio is nearly silent"
    assert float(np.abs(samples).max()) < 0.99, "the audio clips"


def test_audio_default_is_eight_seconds_of_16_khz_wav(tmp_path: Path) -> None:
    """Without options demo-audio writes 8 s of 16 kHz WAV."""
    ctx = run(DemoAudio(), {"prompt": "a quiet room"}, tmp_path)
    samples, rate = decode(ctx.outputs[0]["path"])
    assert (ctx.outputs[0]["content_type"], rate, samples.size) == ("audio/wav", 16000, 128000)


def test_audio_hundred_seconds_are_produced(tmp_path: Path) -> None:
    """A 100-second request gives 100 seconds of sound that stays audible to the end."""
    ctx = run(DemoAudio(), {"prompt": "wind over the hills", "duration": 100}, tmp_path)
    samples, rate = decode(ctx.outputs[0]["path"])
    assert samples.size == 100 * rate
    assert ctx.outputs[0]["duration"] == pytest.approx(100)
    assert rms(samples[-10 * rate : -2 * rate]) > 0.02
    assert len(ctx.steps) == 101


def test_audio_fades_in_and_out(tmp_path: Path) -> None:
    """The sound starts and ends quietly, with the full level in between."""
    ctx = run(DemoAudio(), {"prompt": "ocean waves", "duration": 10, "seed": 1}, tmp_path)
    samples, rate = decode(ctx.outputs[0]["path"])
    edge = rate // 50
    middle = rms(samples[3 * rate : 7 * rate])
    assert rms(samples[:edge]) < 0.1 * middle
    assert rms(samples[-edge:]) < 0.1 * middle


@pytest.mark.parametrize("output_format", AUDIO_FORMATS)
def test_audio_same_input_gives_identical_bytes(tmp_path: Path, output_format: str) -> None:
    """Repeating a prompt, seed and settings repeats the file byte for byte."""
    input = {"prompt": "campfire", "duration": 3, "output_format": output_format}
    first = run(DemoAudio(), input, tmp_path / "a")
    second = run(DemoAudio(), input, tmp_path / "b")
    assert first.outputs[0]["path"].read_bytes() == second.outputs[0]["path"].read_bytes()
    assert any("seed" in line for line in first.logs)


def test_audio_different_prompt_or_seed_gives_different_sound(tmp_path: Path) -> None:
    """Changing the prompt or the seed changes the samples, not just the bytes."""
    base = {"prompt": "rain", "duration": 2, "seed": 9}
    variants = [base, {**base, "seed": 10}, {**base, "prompt": "a drone in space"}]
    decoded = [
        decode(run(DemoAudio(), input, tmp_path / str(i)).outputs[0]["path"])[0]
        for i, input in enumerate(variants)
    ]
    for i in range(3):
        for j in range(i + 1, 3):
            assert rms(decoded[i] - decoded[j]) > 0.05


def test_audio_prompt_words_pick_the_kind_of_sound(tmp_path: Path) -> None:
    """Rain is brighter than wind: its spectral centroid lies higher."""

    def centroid(prompt: str) -> float:
        ctx = run(DemoAudio(), {"prompt": prompt, "duration": 4, "seed": 1}, tmp_path / prompt)
        samples, rate = decode(ctx.outputs[0]["path"])
        power = np.abs(np.fft.rfft(samples)) ** 2
        freqs = np.fft.rfftfreq(samples.size, 1 / rate)
        return float(np.sum(freqs * power) / np.sum(power))

    assert centroid("heavy rain") > 1.5 * centroid("cold wind")


@pytest.mark.parametrize(("duration", "blocks"), [(1, 1), (3.5, 4), (4, 4)])
def test_audio_reports_progress_per_second(tmp_path: Path, duration: float, blocks: int) -> None:
    """demo-audio reports a step per second of sound (the last may be shorter) plus one for
    writing the file."""
    ctx = run(DemoAudio(), {"prompt": "x", "duration": duration}, tmp_path)
    assert ctx.steps == [(i, blocks + 1) for i in range(1, blocks + 2)]


@pytest.mark.parametrize("stop_after", [0, 3])
def test_audio_stops_when_asked(tmp_path: Path, stop_after: int) -> None:
    """A stop request before or between seconds raises Stopped and publishes nothing."""
    ctx = RecordingContext(tmp_path, stop_after=stop_after)
    with pytest.raises(Stopped):
        DemoAudio().predict({"prompt": "x", "duration": 60}, ctx)
    assert len(ctx.steps) == stop_after
    assert ctx.outputs == []


def test_audio_usage_is_priced_by_duration() -> None:
    """The cost estimate of demo-audio is one output priced per second, 8 s by default."""
    model = DemoAudio()
    usage = model.usage({"prompt": "x", "duration": 12.5})
    assert (usage.outputs, usage.media_seconds) == (1, 12.5)
    assert model.usage({"prompt": "x"}).media_seconds == 8
    assert model.price.cost(usage.outputs, usage.media_seconds) == Decimal("0.0125")
