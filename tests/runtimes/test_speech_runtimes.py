"""The transformers runtime's speech and vision tasks with tiny random-weight models, through a
real worker (on a thread, for the whole module, so the models stay loaded) with a real SQLite
store and file storage: speech recognition with timestamps, long sound in chunks with
progress and cancel, text to speech, and image captioning with streamed text."""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genq.errors import ValidationFailed
from genq.jobs import EventType, JobRecord
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.service import JobService
from genq.settings import Settings
from genq.storage import FileStorage, open_storage
from genq.store import JobStore, open_store
from genq.worker.runner import Worker
from tests.runtimes.test_runtimes_http import hub_cache

pytest.importorskip("transformers")
pysubs2 = pytest.importorskip("pysubs2")
soundfile = pytest.importorskip("soundfile")

#: The tiny models' folders, by kind.
WHISPER, TTS, CAPTION = "whisper", "tts", "caption"


def build_ctc(folder: Path) -> Path:
    """A tiny random wav2vec2 CTC model with its processor: a speech model that is not
    Whisper (one language, words timed but no segments). The tiny kinds have none."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir()
    letters = "abcdefghijklmnopqrstuvwxyz."
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(letters)}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    features = Wav2Vec2FeatureExtractor(sampling_rate=16_000, return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        Wav2Vec2ForCTC(config).save_pretrained(folder)
    return folder


def build_vision_encoder_decoder(folder: Path, gpt2: Path) -> Path:
    """A tiny VisionEncoderDecoder captioner (ViT encoder, the tiny GPT-2 as its decoder) saved
    as such folders often are: an image processor and a tokenizer, no processor joining them."""
    import torch
    from transformers import (
        AutoTokenizer,
        GPT2Config,
        GPT2LMHeadModel,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessorPil,
        ViTModel,
    )

    tokenizer = AutoTokenizer.from_pretrained(gpt2)
    decoder_config = GPT2Config.from_pretrained(gpt2)
    decoder_config.is_decoder = decoder_config.add_cross_attention = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = ViTModel(
            ViTConfig(
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=64,
                image_size=32,
                patch_size=8,
            )
        )
        model = VisionEncoderDecoderModel(encoder=encoder, decoder=GPT2LMHeadModel(decoder_config))
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id = tokenizer.bos_token_id
        config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def models(tiny: Path, cache: Path, ctc: Path) -> dict[str, dict[str, Any]]:
    whisper = {
        "runtime": "transformers",
        "task": "automatic-speech-recognition",
        "source": str(tiny / WHISPER),
    }
    return {
        "asr": whisper,
        # One chunk per model call: a progress step per 30 s of sound.
        "asr-chunked": {**whisper, "batch_size": 1},
        "asr-ctc": {**whisper, "source": str(ctc)},
        "asr-ctc-chunked": {**whisper, "source": str(ctc), "batch_size": 1},
        "asr-batched": {**whisper, "max_batch": 4, "batch_wait_ms": 0, "max_audio_seconds": 10},
        "tts": {"runtime": "transformers", "task": "text-to-speech", "source": str(tiny / TTS)},
        # The same voice by a hub id, found in a hub cache with no network.
        "tts-hub": {
            "runtime": "transformers",
            "task": "text-to-speech",
            "source": "genq-test/tiny-tts",
            "cache_dir": str(cache),
        },
        "caption": {
            "runtime": "transformers",
            "task": "image-to-text",
            "source": str(tiny / CAPTION),
            "default_max_tokens": 8,
        },
        "caption-ved": {
            "runtime": "transformers",
            "task": "image-to-text",
            "source": str(build_vision_encoder_decoder(ctc.parent / "ved", tiny / "gpt2")),
        },
    }


@dataclass
class Speech:
    """A worker running on its own thread and what tests need to drive it."""

    store: JobStore
    storage: FileStorage
    service: JobService
    account: str

    def submit(self, model: str, **input: Any) -> str:
        job, *_ = asyncio.run(self.service.submit(self.account, model, input))
        return str(job.id)

    def job(self, job_id: str) -> JobRecord:
        job = self.store.get_job_any_account(job_id, time.time())
        assert job is not None
        return job

    def wait(self, job_id: str, timeout: float = 120) -> JobRecord:
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id)).status in ("queued", "running"):
            assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
            time.sleep(0.05)
        return job

    def succeeded(self, job_id: str) -> JobRecord:
        job = self.wait(job_id)
        assert job.status == "succeeded", job.error
        return job

    def files(self, job: JobRecord) -> list[bytes]:
        """The job's outputs' bytes, in order."""
        found = [self.storage.read(output.key, 50_000_000) for output in job.outputs]
        assert None not in found
        return [data for data in found if data is not None]

    def transcript(self, job: JobRecord) -> dict[str, bytes]:
        """A transcription's files by name: its outputs come in this order."""
        names = ["transcript.txt", "segments.json", "transcript.srt", "transcript.vtt"]
        return dict(zip(names, self.files(job), strict=False))

    def events(self, job_id: str, kind: EventType) -> list[dict[str, Any]]:
        return [e.data for e in self.store.events_after(job_id, 0, 10_000) if e.type is kind]

    def cancel(self, job_id: str) -> None:
        asyncio.run(self.service.cancel(self.account, job_id))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[Speech]:
    directory = tmp_path_factory.mktemp("speech")
    cache = hub_cache(directory / "hub", "genq-test/tiny-tts", tiny_models / TTS)
    settings = Settings(
        data_dir=directory / "data",
        models=models(tiny_models, cache, build_ctc(directory / "ctc")),
        # Every progress step and text delta stored; a cancel seen within half a second.
        progress_interval_seconds=0,
        lease_seconds=1.5,
        # No one wakes a worker of this process: it looks for jobs this often.
        poll_interval_seconds=0.05,
    )
    store = open_store(settings.db_url)
    storage = open_storage(settings.storage_url, settings.signing_secret())
    registry = ModelRegistry(settings.models)
    service = JobService(settings, store, storage, registry, LocalNotifier())
    account = store.ensure_account("tester", None, time.time()).id
    worker = Worker(settings, "w-speech", store=store, storage=storage, registry=registry)
    thread = threading.Thread(target=worker.run, name="speech-worker", daemon=True)
    thread.start()
    yield Speech(store, storage, service, account)
    worker.claims.stopping.set()
    thread.join(timeout=60)
    store.close()


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def sound(samples: np.ndarray, rate: int, fmt: str) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt.upper(), subtype="PCM_16")
    return data_uri(buffer.getvalue(), f"audio/{fmt}")


@pytest.fixture(scope="module")
def spoken() -> str:
    """Three seconds of speech, made by the demo-speech model's eSpeak NG, as a WAV data URI."""
    pytest.importorskip("espeakng_loader")
    from genq.demos.speech import engine

    voice = engine()
    with voice.lock:
        voice.configure("en-us", 175, 50)
        pcm = np.frombuffer(
            voice.speak("Hello there, this is genq speaking.", lambda: False), np.int16
        )
    samples = np.zeros(3 * voice.sample_rate, dtype=np.int16)
    samples[: min(len(pcm), len(samples))] = pcm[: len(samples)]
    return sound(samples, voice.sample_rate, "wav")


def hum(seconds: float) -> str:
    """A quiet constant sound of ``seconds`` as FLAC, which holds it in a few bytes a block:
    long sound at little cost (no model tells it from speech anyway)."""
    return sound(np.full(round(seconds * 8000), 64, dtype=np.int16), 8000, "flac")


# -- speech recognition -------------------------------------------------------------------
def heard(folder: Path, audio: str, **options: Any) -> str:
    """What transformers' own speech recognition pipeline makes of ``audio``, decoded as
    genq decodes it, with ``options``."""
    import transformers

    from genq.media.audio import decode_audio

    data = base64.b64decode(audio.partition(",")[2])
    samples = decode_audio(data, sample_rate=16_000, max_seconds=60)
    pipe: Any = transformers.pipeline("automatic-speech-recognition", model=str(folder))
    return str(pipe(samples, **options)["text"]).strip()


def test_speech_recognition_writes_a_transcript_with_the_sounds_duration(
    speech: Speech, spoken: str, tiny_models: Path
) -> None:
    """A 3-second WAV gives one text output, whose duration (what per-second prices count)
    is the sound's; the text is what transformers' own pipeline hears."""
    plain = speech.succeeded(speech.submit("asr", audio=spoken, language="en"))
    [output] = plain.outputs
    assert output.content_type == "text/plain; charset=utf-8"
    assert output.duration == pytest.approx(3.0, abs=0.01)
    [progress] = speech.events(plain.id, EventType.PROGRESS)
    assert (progress["step"], progress["total"]) == (1, 1)
    # The tiny model says nothing unless it also times what it says.
    timed = speech.succeeded(
        speech.submit("asr", audio=spoken, language="de", task="translate", timestamps="segment")
    )
    text = speech.transcript(timed)["transcript.txt"].decode("utf-8")
    expected = heard(
        tiny_models / WHISPER,
        spoken,
        return_timestamps=True,
        generate_kwargs={"language": "de", "task": "translate"},
    )
    assert expected
    assert text == expected


def check_subtitles(files: dict[str, bytes], segments: list[dict[str, Any]]) -> None:
    """The SRT and the WebVTT parse back into the segments: one cue per segment that lasts
    some time, at its times to the millisecond (the files' precision), and every segment's
    words in order (one that lasts no time is shown with a neighbour's cue). SRT has no
    escapes: a zero-width space keeps what looks like a tag (the CTC model's ``<unk>``) from
    being one; WebVTT escapes it."""
    said = [s for s in segments if s["text"].strip()]
    cued = [s for s in said if round(s["end"] * 1000) > round(s["start"] * 1000)]
    for name in ("transcript.srt", "transcript.vtt"):
        parsed = pysubs2.SSAFile.from_string(files[name].decode("utf-8"))
        if name.endswith(".vtt"):
            texts = [html.unescape(e.plaintext) for e in parsed]
        else:
            texts = [e.plaintext.replace("\u200b", "") for e in parsed]
        assert " ".join(texts).split() == " ".join(s["text"] for s in said).split(), name
        if not cued:
            continue
        assert len(parsed) == len(cued), name
        for event, segment in zip(parsed, cued, strict=True):
            assert abs(event.start - segment["start"] * 1000) <= 1, name
            assert abs(event.end - segment["end"] * 1000) <= 1, name


def test_segment_timestamps_write_json_srt_and_vtt(speech: Speech, spoken: str) -> None:
    """timestamps=segment adds segments.json, an SRT and a WebVTT file that say the same."""
    job = speech.succeeded(speech.submit("asr", audio=spoken, timestamps="segment"))
    assert [o.content_type for o in job.outputs] == [
        "text/plain; charset=utf-8",
        "application/json",
        "application/x-subrip",
        "text/vtt",
    ]
    files = speech.transcript(job)
    segments = json.loads(files["segments.json"])
    assert segments, "the tiny model says something in every window"
    for segment in segments:
        assert set(segment) == {"start", "end", "text"}
        assert 0 <= segment["start"] <= segment["end"] <= 3.0
    # Whisper's segments may cut a word: they hold the transcript's letters, not its spaces.
    assert "".join("".join(s["text"] for s in segments).split()) == "".join(
        files["transcript.txt"].decode().split()
    )
    check_subtitles(files, segments)


def test_word_timestamps_give_each_segment_its_words(speech: Speech, spoken: str) -> None:
    """timestamps=word: every segment lists its timed words, in order, inside the segment."""
    job = speech.succeeded(speech.submit("asr", audio=spoken, timestamps="word"))
    files = speech.transcript(job)
    segments = json.loads(files["segments.json"])
    assert segments
    for segment in segments:
        words = segment["words"]
        assert words
        assert words[0]["start"] == segment["start"]
        assert words[-1]["end"] == segment["end"]
        starts = [w["start"] for w in words]
        assert starts == sorted(starts)
    check_subtitles(files, segments)


def test_long_sound_runs_in_chunks_with_their_timestamps(speech: Speech) -> None:
    """70 seconds are three 30-second chunks: a progress step each, and segments placed in
    the whole sound (the last chunk's after 60 s)."""
    job_id = speech.submit("asr-chunked", audio=hum(70), timestamps="segment")
    job = speech.succeeded(job_id)
    steps = [(p["step"], p["total"]) for p in speech.events(job_id, EventType.PROGRESS)]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert job.outputs[0].duration == pytest.approx(70.0, abs=0.01)
    segments = json.loads(speech.transcript(job)["segments.json"])
    assert max(s["end"] for s in segments) <= 70.0
    assert any(s["start"] >= 60 for s in segments), segments


def test_a_cancel_stops_a_ten_minute_sound_between_chunks(speech: Speech) -> None:
    """A 10-minute sound (20 chunks) canceled after its second chunk ends canceled, without
    outputs, long before its last chunk."""
    job_id = speech.submit("asr-chunked", audio=hum(600))
    deadline = time.monotonic() + 60
    while speech.job(job_id).progress.step < 2:
        assert speech.job(job_id).status in ("queued", "running")
        assert time.monotonic() < deadline
        time.sleep(0.02)
    speech.cancel(job_id)
    job = speech.wait(job_id)
    assert job.status == "canceled"
    assert not job.outputs
    steps = [p["step"] for p in speech.events(job_id, EventType.PROGRESS)]
    assert all(p["total"] == 20 for p in speech.events(job_id, EventType.PROGRESS))
    assert steps[-1] < 20


@contextmanager
def worker_held(speech: Speech) -> Iterator[None]:
    """Keep the worker busy while jobs are submitted, so that they are all queued when it
    takes the next one."""
    blocker = speech.submit("noop", sleep_ms=60_000)
    deadline = time.monotonic() + 30
    while speech.job(blocker).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield
    finally:
        speech.cancel(blocker)


def test_short_clips_share_a_model_call_and_say_what_they_say_alone(
    speech: Speech, spoken: str
) -> None:
    """Three clips with the same settings run in one pipeline call; each transcript is the
    one its clip gets alone."""
    with worker_held(speech):
        batched = [speech.submit("asr-batched", audio=spoken, language="en") for _ in range(3)]
    alone = speech.succeeded(speech.submit("asr", audio=spoken, language="en"))
    expected = speech.transcript(alone)["transcript.txt"]
    for job_id in batched:
        job = speech.succeeded(job_id)
        logs = [e["message"] for e in speech.events(job_id, EventType.LOG)]
        assert "ran in a batch of 3 jobs" in logs
        assert speech.transcript(job)["transcript.txt"] == expected


def test_a_clip_too_long_fails_alone_and_the_others_of_its_call_succeed(
    speech: Speech, spoken: str
) -> None:
    """A call of three clips, one of them longer than max_audio_seconds: that one fails as
    invalid_input with its own message, the others, run again one at a time, succeed."""
    with worker_held(speech):
        first = speech.submit("asr-batched", audio=spoken, language="en")
        too_long = speech.submit("asr-batched", audio=hum(12), language="en")
        last = speech.submit("asr-batched", audio=spoken, language="en")
    for job_id in (first, last):
        assert len(speech.succeeded(job_id).outputs) == 1
        logs = [e["message"] for e in speech.events(job_id, EventType.LOG)]
        assert "ran in a batch of 3 jobs" in logs
    job = speech.wait(too_long)
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.code == "invalid_input"
    assert "longer than the 10 s allowed" in job.error.message
    assert job.error.message.startswith("cannot use data:audio/flac")
    assert "audio/wav" not in job.error.message


def test_a_ctc_model_times_words_and_makes_segments_of_them(speech: Speech, spoken: str) -> None:
    """A wav2vec2 model's segments are made of its timed words, several to a segment, within
    the sound; they list their words only when word timestamps are asked for."""
    job = speech.succeeded(speech.submit("asr-ctc", audio=spoken, timestamps="segment"))
    files = speech.transcript(job)
    segments = json.loads(files["segments.json"])
    assert segments
    assert all(set(s) == {"start", "end", "text"} for s in segments)
    assert all(0 <= s["start"] <= s["end"] <= 3.0 for s in segments)
    assert len(segments) < len(files["transcript.txt"].split())
    assert " ".join(s["text"] for s in segments).split() == files["transcript.txt"].decode().split()
    check_subtitles(files, segments)


@pytest.mark.parametrize(
    ("model", "samples", "chunks"),
    [("asr-ctc", 5, 1), ("asr-ctc-chunked", 30 * 16_000 + 5, 1)],
)
def test_a_ctc_model_hears_a_sound_or_a_last_chunk_shorter_than_its_kernels(
    speech: Speech, model: str, samples: int, chunks: int
) -> None:
    """wav2vec2 takes no fewer samples than its convolutions span: a 5-sample sound is padded
    with silence, a last chunk of 5 samples is heard with the chunk before it."""
    noise = (np.random.default_rng(0).standard_normal(samples) * 3000).astype(np.int16)
    job_id = speech.submit(model, audio=sound(noise, 16_000, "wav"), timestamps="segment")
    job = speech.succeeded(job_id)
    assert job.outputs[0].duration == pytest.approx(samples / 16_000, abs=0.001)
    steps = [(p["step"], p["total"]) for p in speech.events(job_id, EventType.PROGRESS)]
    assert steps[-1] == (chunks, chunks)
    segments = json.loads(speech.transcript(job)["segments.json"])
    assert all(0 <= s["start"] <= s["end"] <= samples / 16_000 for s in segments)


@pytest.mark.parametrize(
    ("model", "input", "message"),
    [
        ("asr", {"language": "xx-unknown"}, "does not know the language"),
        ("asr-ctc", {"task": "translate"}, "only transcribes"),
        ("asr-batched", {"audio": hum(12)}, "longer than the 10 s allowed"),
    ],
)
def test_input_the_model_cannot_use_fails_the_job_as_invalid(
    speech: Speech, spoken: str, model: str, input: dict[str, Any], message: str
) -> None:
    """A language the model does not know, or a sound longer than the model's
    max_audio_seconds, fails the job as invalid_input."""
    job = speech.wait(speech.submit(model, **{"audio": spoken, **input}))
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.code == "invalid_input"
    assert message in job.error.message


# -- text to speech -----------------------------------------------------------------------
def decode(data: bytes) -> tuple[np.ndarray, int, str]:
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, rate, soundfile.info(io.BytesIO(data)).format


@pytest.mark.parametrize(("fmt", "codec"), [("wav", "WAV"), ("mp3", "MP3"), ("flac", "FLAC")])
def test_text_to_speech_writes_decodable_audio(speech: Speech, fmt: str, codec: str) -> None:
    """Each format decodes, at the model's rate, as long as the output says."""
    job = speech.succeeded(speech.submit("tts", text="Hello there.", format=fmt, seed=1))
    [output] = job.outputs
    [data] = speech.files(job)
    samples, rate, found = decode(data)
    assert found == codec
    assert rate == 16_000
    assert output.duration is not None
    assert len(samples) / rate == pytest.approx(output.duration, abs=0.06)


def test_speech_grows_with_the_text_and_reports_each_sentence(speech: Speech) -> None:
    """Four sentences take longer than one, and are spoken (and reported) one at a time."""
    short = speech.succeeded(speech.submit("tts", text="Hello there.", seed=3))
    text = "Hello there. How are you today? The weather is fine. We walk to the sea."
    long_id = speech.submit("tts", text=text, seed=3)
    long = speech.succeeded(long_id)
    short_seconds, long_seconds = short.outputs[0].duration, long.outputs[0].duration
    assert short_seconds is not None
    assert long_seconds is not None
    assert long_seconds > 2 * short_seconds
    steps = [(p["step"], p["total"]) for p in speech.events(long_id, EventType.PROGRESS)]
    assert steps == [(step, 5) for step in range(1, 6)]


def test_sentences_the_voice_cannot_say_are_skipped(speech: Speech) -> None:
    """A sentence of characters the voice lacks is left out; a text of nothing else fails as
    invalid input, and one of only spaces is refused at submit."""
    mixed_id = speech.submit("tts", text="Hello there. \U0001f642", seed=3)
    mixed = speech.succeeded(mixed_id)
    alone = speech.succeeded(speech.submit("tts", text="Hello there.", seed=3))
    assert speech.files(mixed) == speech.files(alone)
    steps = [(p["step"], p["total"]) for p in speech.events(mixed_id, EventType.PROGRESS)]
    assert steps == [(1, 2), (2, 2)]
    for text in ("\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\U0001f642"):
        job = speech.wait(speech.submit("tts", text=text))
        assert job.status == "failed"
        assert job.error is not None
        assert (job.error.code, job.error.message) == (
            "invalid_input",
            "the text has nothing this voice can say",
        )
    with pytest.raises(ValidationFailed):
        speech.submit("tts", text="  \n\t ")


def test_speakers_seeds_and_sample_rates(speech: Speech) -> None:
    """The schema offers the tiny model's two speakers; another speaker says the same text
    differently, the same seed the same way; a sample rate resamples the file."""
    schema = speech.service.model("tts").model.input_schema["properties"]
    assert (schema["speaker"]["minimum"], schema["speaker"]["maximum"]) == (0, 1)

    def said(**input: Any) -> np.ndarray:
        job = speech.succeeded(speech.submit("tts", text="Good morning.", seed=5, **input))
        [data] = speech.files(job)
        return decode(data)[0]

    first, again, other = said(speaker=0), said(speaker=0), said(speaker=1)
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)
    job = speech.succeeded(speech.submit("tts", text="Good morning.", seed=5, sample_rate=8000))
    [data] = speech.files(job)
    samples, rate, _ = decode(data)
    assert rate == 8000
    assert len(samples) == pytest.approx(len(first) / 2, abs=64)
    with pytest.raises(ValidationFailed, match="speaker"):
        speech.submit("tts", text="Good morning.", speaker=2)


@pytest.mark.parametrize(("asked", "made"), [(9000, 11025), (12345, 16000), (47999, 48000)])
def test_an_mp3_takes_the_nearest_rate_mp3_has(speech: Speech, asked: int, made: int) -> None:
    """MP3 allows only nine sample rates: another one asked for gives the nearest above it."""
    job = speech.succeeded(
        speech.submit("tts", text="Hi.", seed=5, format="mp3", sample_rate=asked)
    )
    [data] = speech.files(job)
    assert decode(data)[1:] == (made, "MP3")


def test_a_models_own_rate_is_one_mp3_has() -> None:
    """A voice's own rate, when the job asks for none, is held to MP3's rates as well."""
    from genq.runtimes.text_to_speech import mp3_rate

    assert [mp3_rate(r) for r in (8000, 16000, 22050, 22051, 44100, 96000)] == [
        8000,
        16000,
        22050,
        24000,
        44100,
        48000,
    ]


def test_a_hub_id_speaks_from_the_hub_cache_offline(speech: Speech) -> None:
    """A hub id with a cache_dir loads from that cache (its config giving the speakers) and
    says what the folder's model says."""
    schema = speech.service.model("tts-hub").model.input_schema["properties"]
    assert schema["speaker"]["maximum"] == 1
    said = []
    for model in ("tts", "tts-hub"):
        job = speech.succeeded(speech.submit(model, text="Good day.", seed=9, speaker=1))
        said.append(speech.files(job)[0])
    assert said[0] == said[1]


# -- image to text ------------------------------------------------------------------------
def png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return data_uri(buffer.getvalue(), "image/png")


@pytest.mark.parametrize("prompt", [None, "a photo of"])
def test_captioning_streams_its_text(speech: Speech, prompt: str | None) -> None:
    """A PNG's caption (plain, or going on from a prompt) is a text output, streamed token
    by token as text events that add up to it, with a progress step per token."""
    input: dict[str, Any] = {"image": png(Image.new("RGB", (300, 200), "teal")), "max_tokens": 6}
    if prompt:
        input["prompt"] = prompt
    job_id = speech.submit("caption", **input)
    job = speech.succeeded(job_id)
    [output] = job.outputs
    assert output.content_type == "text/plain; charset=utf-8"
    [data] = speech.files(job)
    text = data.decode("utf-8")
    deltas = [e["delta"] for e in speech.events(job_id, EventType.TEXT)]
    if prompt:
        # Unprompted, the tiny model picks ids its tokenizer has no word for: no text.
        assert text
    assert "".join(deltas).strip() == text
    progress = speech.events(job_id, EventType.PROGRESS)
    assert progress
    assert {p["total"] for p in progress} == {6}


def test_a_vision_encoder_decoder_captions_without_a_prompt(speech: Speech) -> None:
    """A captioner without a joint processor takes the image alone: its caption streams as
    text events; a prompt is invalid input."""
    image = png(Image.new("RGB", (64, 48), "orange"))
    job_id = speech.submit("caption-ved", image=image, max_tokens=4)
    job = speech.succeeded(job_id)
    [data] = speech.files(job)
    deltas = [e["delta"] for e in speech.events(job_id, EventType.TEXT)]
    assert data.decode("utf-8")
    assert "".join(deltas).strip() == data.decode("utf-8")
    refused = speech.wait(speech.submit("caption-ved", image=image, prompt="a photo of"))
    assert refused.status == "failed"
    assert refused.error is not None
    assert refused.error.code == "invalid_input"
