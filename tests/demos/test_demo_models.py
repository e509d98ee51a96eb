"""The demo models run for real: files are decoded back and checked, not just counted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from PIL import Image

from genq.demos.image import DemoImage
from genq.demos.speech import VOICES, DemoSpeech
from genq.demos.video import DemoVideo
from genq.models.base import Model, RunContext, Stopped

# Twenty words: at 175 words per minute about seven seconds of speech.
SENTENCE = (
    "The quick brown fox jumps over the lazy dog, then it runs into the forest and hides "
    "behind a tree."
)


class RecordingContext(RunContext):
    """A RunContext that remembers what the model did and can ask it to stop."""

    def __init__(self, work_dir: Path, stop_after: int | None = None) -> None:
        self.job_id = "test-job"
        self._work_dir = work_dir
        self.stop_after = stop_after
        self.steps: list[tuple[int, int]] = []
        self.logs: list[str] = []
        self.texts: list[str] = []
        self.outputs: list[dict[str, Any]] = []

    @property
    def work_dir(self) -> Path:
        return self._work_dir

    def progress(self, step: int, total: int, message: str | None = None) -> None:
        self.steps.append((step, total))

    def log(self, message: str) -> None:
        self.logs.append(message)

    def text(self, delta: str) -> None:
        self.texts.append(delta)

    @property
    def stop_requested(self) -> bool:
        return self.stop_after is not None and len(self.steps) >= self.stop_after

    def add_output(
        self,
        path: Path,
        content_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
    ) -> None:
        self.outputs.append(
            {
                "path": path,
                "content_type": content_type,
                "width": width,
                "height": height,
                "duration": duration,
            }
        )


def run(model: Model, input: dict[str, Any], work_dir: Path, **ctx: Any) -> RecordingContext:
    work_dir.mkdir(parents=True, exist_ok=True)
    context = RecordingContext(work_dir, **ctx)
    model.predict(input, context)
    return context


def assert_progress_completes(steps: list[tuple[int, int]]) -> None:
    assert steps, "no progress reported"
    assert [step for step, _ in steps] == sorted(step for step, _ in steps)
    assert steps[-1][0] == steps[-1][1]


@pytest.fixture(scope="module")
def speech() -> DemoSpeech:
    pytest.importorskip("espeakng_loader")
    pytest.importorskip("soundfile")
    model = DemoSpeech()
    model.setup()
    return model


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [DemoImage, DemoVideo, DemoSpeech])
def test_input_schema_is_valid_and_defaults_validate(model_cls: type[Model]) -> None:
    """Each demo schema is a valid JSON Schema whose defaults satisfy their own properties."""
    schema = model_cls.input_schema
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    defaults = {k: v["default"] for k, v in schema["properties"].items() if "default" in v}
    required = {"prompt": "a red kite", "text": "Hello."}
    minimal = {k: required[k] for k in schema["required"]}
    validator.validate({**minimal, **defaults})
    for key, value in defaults.items():
        validator_cls(schema["properties"][key]).validate(value)


def test_heavy_libraries_are_not_imported_with_the_model_modules() -> None:
    """Importing the demo modules (as the API process does) loads no optional media library."""
    code = (
        "import sys, genq.demos.image, genq.demos.video, genq.demos.speech\n"
        "import genq.demos.text, genq.demos.audio\n"
        "print(sorted({'av', 'soundfile', 'espeakng_loader'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- demo-image ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "pil_format", "content_type"),
    [("png", "PNG", "image/png"), ("jpeg", "JPEG", "image/jpeg"), ("webp", "WEBP", "image/webp")],
)
def test_image_writes_the_requested_format_and_size(
    tmp_path: Path, output_format: str, pil_format: str, content_type: str
) -> None:
    """demo-image writes a decodable file of the requested format, width and height."""
    ctx = run(
        DemoImage(),
        {"prompt": "a lighthouse", "width": 200, "height": 120, "output_format": output_format},
        tmp_path,
    )
    [output] = ctx.outputs
    assert output["content_type"] == content_type
    assert (output["width"], output["height"]) == (200, 120)
    with Image.open(output["path"]) as image:
        assert image.format == pil_format
        assert image.size == (200, 120)
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10, "the image is nearly flat"


def test_image_default_size_is_512_square(tmp_path: Path) -> None:
    """Without width, height or aspect ratio an image is 512x512."""
    ctx = run(DemoImage(), {"prompt": "a lighthouse", "steps": 1}, tmp_path)
    with Image.open(ctx.outputs[0]["path"]) as image:
        assert image.size == (512, 512)


@pytest.mark.parametrize(
    ("aspect_ratio", "size"),
    [("16:9", (512, 288)), ("9:16", (288, 512)), ("4:3", (512, 384)), ("21:9", (512, 219))],
)
def test_image_aspect_ratio_alone_sets_the_shape(
    tmp_path: Path, aspect_ratio: str, size: tuple[int, int]
) -> None:
    """An aspect ratio without width and height gives that ratio with the longer side 512."""
    ctx = run(DemoImage(), {"prompt": "x", "aspect_ratio": aspect_ratio, "steps": 1}, tmp_path)
    with Image.open(ctx.outputs[0]["path"]) as image:
        assert image.size == size


def test_image_width_and_height_win_over_aspect_ratio(tmp_path: Path) -> None:
    """Explicit width and height are used even when an aspect ratio is also given."""
    input = {"prompt": "x", "aspect_ratio": "16:9", "width": 100, "height": 300, "steps": 1}
    ctx = run(DemoImage(), input, tmp_path)
    with Image.open(ctx.outputs[0]["path"]) as image:
        assert image.size == (100, 300)


def test_image_single_side_follows_aspect_ratio(tmp_path: Path) -> None:
    """With only a width, the height follows the aspect ratio."""
    input = {"prompt": "x", "aspect_ratio": "4:3", "width": 400, "steps": 1}
    ctx = run(DemoImage(), input, tmp_path)
    with Image.open(ctx.outputs[0]["path"]) as image:
        assert image.size == (400, 300)


def test_image_same_input_and_seed_give_identical_bytes(tmp_path: Path) -> None:
    """The same prompt and seed produce byte-identical files in every format."""
    for output_format in ("png", "jpeg", "webp"):
        input = {"prompt": "a lighthouse", "seed": 42, "width": 128, "height": 96}
        input["output_format"] = output_format
        first = run(DemoImage(), input, tmp_path / f"{output_format}-a")
        second = run(DemoImage(), input, tmp_path / f"{output_format}-b")
        assert first.outputs[0]["path"].read_bytes() == second.outputs[0]["path"].read_bytes()


def test_image_different_seed_or_prompt_gives_different_bytes(tmp_path: Path) -> None:
    """Changing the seed or the prompt changes the image."""
    base = {"prompt": "a lighthouse", "seed": 42, "width": 128, "height": 96}
    variants = [base, {**base, "seed": 43}, {**base, "prompt": "a lighthouse at night"}]
    files = [
        run(DemoImage(), input, tmp_path / str(i)).outputs[0]["path"].read_bytes()
        for i, input in enumerate(variants)
    ]
    assert len(set(files)) == 3


def test_image_without_seed_is_reproducible_per_prompt(tmp_path: Path) -> None:
    """Without a seed the prompt picks one, so repeating the prompt repeats the image."""
    input = {"prompt": "a lighthouse", "width": 96, "height": 96}
    first = run(DemoImage(), input, tmp_path / "a")
    second = run(DemoImage(), input, tmp_path / "b")
    assert first.outputs[0]["path"].read_bytes() == second.outputs[0]["path"].read_bytes()
    assert any("seed" in line for line in first.logs)


def test_image_batch_uses_consecutive_seeds(tmp_path: Path) -> None:
    """Image i of a batch is the image that seed + i gives alone."""
    input = {"prompt": "a lighthouse", "width": 96, "height": 64, "seed": 7}
    batch = run(DemoImage(), {**input, "num_images": 3}, tmp_path / "batch")
    single = run(DemoImage(), {**input, "seed": 9}, tmp_path / "single")
    assert len(batch.outputs) == 3
    assert batch.outputs[2]["path"].read_bytes() == single.outputs[0]["path"].read_bytes()
    assert len({o["path"].read_bytes() for o in batch.outputs}) == 3


def test_image_reports_progress_per_step_and_image(tmp_path: Path) -> None:
    """demo-image reports one progress step per refinement pass of every image."""
    input = {"prompt": "x", "width": 64, "height": 64, "steps": 5, "num_images": 2}
    ctx = run(DemoImage(), input, tmp_path)
    assert ctx.steps == [(i, 10) for i in range(1, 11)]


@pytest.mark.parametrize("stop_after", [0, 3])
def test_image_stops_when_asked(tmp_path: Path, stop_after: int) -> None:
    """A stop request, before or during the passes, raises Stopped and publishes nothing."""
    ctx = RecordingContext(tmp_path, stop_after=stop_after)
    with pytest.raises(Stopped):
        DemoImage().predict({"prompt": "x", "steps": 8}, ctx)
    assert len(ctx.steps) == stop_after
    assert ctx.outputs == []


def test_image_usage_counts_images() -> None:
    """The cost estimate of demo-image counts one output per requested image."""
    assert DemoImage().usage({"prompt": "x", "num_images": 3}).outputs == 3


# --- demo-video ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "fps", "aspect_ratio", "size"),
    [(2, 12, "16:9", (320, 180)), (1.5, 8, "9:16", (180, 320)), (1, 30, "1:1", (320, 320))],
)
def test_video_is_h264_mp4_with_requested_length_and_size(
    tmp_path: Path, duration: float, fps: int, aspect_ratio: str, size: tuple[int, int]
) -> None:
    """demo-video writes an H.264 MP4 with round(duration * fps) frames lasting the duration."""
    av = pytest.importorskip("av")
    input = {"prompt": "waves", "duration": duration, "fps": fps, "aspect_ratio": aspect_ratio}
    ctx = run(DemoVideo(), input, tmp_path)
    [output] = ctx.outputs
    assert output["content_type"] == "video/mp4"
    assert (output["width"], output["height"]) == size
    assert output["duration"] == pytest.approx(duration)
    with av.open(str(output["path"])) as container:
        assert "mp4" in container.format.name
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == size
        frames = list(container.decode(stream))
        assert container.duration / 1_000_000 == pytest.approx(duration, abs=1e-3)
    assert len(frames) == round(duration * fps)
    assert frames[0].format.name == "yuv420p"
    first, last = (f.to_ndarray(format="rgb24").astype(int) for f in (frames[0], frames[-1]))
    if len(frames) > 1:
        assert np.abs(first - last).mean() > 1, "the picture does not move"


def test_video_reports_progress_per_frame(tmp_path: Path) -> None:
    """demo-video reports progress once per frame, ending at the frame count."""
    pytest.importorskip("av")
    ctx = run(DemoVideo(), {"prompt": "x", "duration": 1, "fps": 6}, tmp_path)
    assert ctx.steps == [(i, 6) for i in range(1, 7)]


def test_video_stops_when_asked(tmp_path: Path) -> None:
    """A stop request during encoding raises Stopped and publishes nothing."""
    pytest.importorskip("av")
    ctx = RecordingContext(tmp_path, stop_after=4)
    with pytest.raises(Stopped):
        DemoVideo().predict({"prompt": "x", "duration": 2, "fps": 12}, ctx)
    assert len(ctx.steps) == 4
    assert ctx.outputs == []


def test_video_usage_is_priced_by_duration() -> None:
    """The cost estimate of demo-video is one output of the requested length."""
    usage = DemoVideo().usage({"prompt": "x", "duration": 4.5})
    assert (usage.outputs, usage.media_seconds) == (1, 4.5)


# --- demo-speech -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio_format", "content_type"),
    [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("flac", "audio/flac")],
)
def test_speech_duration_is_plausible_for_the_text(
    tmp_path: Path, speech: DemoSpeech, audio_format: str, content_type: str
) -> None:
    """A twenty-word sentence becomes 3 to 15 seconds of audible speech in each format."""
    import soundfile

    ctx = run(speech, {"text": SENTENCE, "format": audio_format}, tmp_path)
    [output] = ctx.outputs
    assert output["content_type"] == content_type
    samples, rate = soundfile.read(output["path"], dtype="float32")
    seconds = len(samples) / rate
    assert 3 < seconds < 15
    # MP3 frames pad the end a little.
    assert output["duration"] == pytest.approx(seconds, abs=0.1)
    assert float(np.sqrt(np.mean(samples**2))) > 0.01, "the audio is silent"


def test_speech_longer_text_gives_longer_audio(tmp_path: Path, speech: DemoSpeech) -> None:
    """Three times the text gives roughly three times the audio."""
    short = run(speech, {"text": SENTENCE}, tmp_path / "short").outputs[0]["duration"]
    long = run(speech, {"text": " ".join([SENTENCE] * 3)}, tmp_path / "long").outputs[0]
    assert 2.5 * short < long["duration"] < 3.5 * short


def test_speech_speed_changes_the_length(tmp_path: Path, speech: DemoSpeech) -> None:
    """A higher speaking rate gives shorter audio."""
    slow = run(speech, {"text": SENTENCE, "speed": 120}, tmp_path / "slow")
    fast = run(speech, {"text": SENTENCE, "speed": 300}, tmp_path / "fast")
    assert fast.outputs[0]["duration"] < 0.6 * slow.outputs[0]["duration"]


@pytest.mark.parametrize("voice", list(VOICES))
def test_speech_every_offered_voice_speaks(tmp_path: Path, speech: DemoSpeech, voice: str) -> None:
    """Every voice in the schema's enum exists in the shipped data and produces speech."""
    ctx = run(speech, {"text": "One, two, three.", "voice": voice}, tmp_path)
    assert 0.5 < ctx.outputs[0]["duration"] < 5


def test_speech_reports_progress_per_sentence(tmp_path: Path, speech: DemoSpeech) -> None:
    """demo-speech reports a step per sentence plus one for encoding."""
    ctx = run(speech, {"text": "First one. Second one!\nThird one? Fourth."}, tmp_path)
    assert ctx.steps == [(i, 5) for i in range(1, 6)]


def test_speech_stops_when_asked(tmp_path: Path, speech: DemoSpeech) -> None:
    """A stop request between sentences raises Stopped and publishes nothing."""
    ctx = RecordingContext(tmp_path, stop_after=1)
    with pytest.raises(Stopped):
        speech.predict({"text": "First one. Second one. Third one."}, ctx)
    assert len(ctx.steps) == 1
    assert ctx.outputs == []


def test_speech_usage_estimates_seconds_from_words() -> None:
    """The cost estimate of demo-speech is words divided by words per second."""
    usage = DemoSpeech().usage({"text": SENTENCE, "speed": 120})
    assert usage.outputs == 1
    assert usage.media_seconds == pytest.approx(10.0)
