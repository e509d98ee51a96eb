"""The transformers runtime's ``automatic-speech-recognition`` task: Whisper, and the other
speech recognition models transformers' pipeline runs (wav2vec2 and other CTC models,
sequence-to-sequence ones), transcribing a reference sound to text, with segment or word
timestamps where the model gives them, written as plain text, JSON, SRT and WebVTT.

Long sound is cut into chunks of ``chunk_seconds`` (Whisper hears 30 s at a time); the chunks
go through the pipeline ``batch_size`` at a time, those of one job and those of jobs that
share a call (the same language, task and timestamps) alike. Between two model calls each job
reports how many of its chunks are done and a canceled job leaves; the chunks' texts and
timestamps are joined, the timestamps moved by each chunk's place in the sound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from pydantic import Field

from genq.models.base import (
    AUDIO_REFERENCE,
    DEFAULT_MAX_AUDIO_SECONDS,
    InputError,
    RunContext,
    Stopped,
    Usage,
    fill_defaults,
)
from genq.runtimes.device import TorchOptions
from genq.runtimes.pretrained import PretrainedModel
from genq.runtimes.transcripts import Segment, Word, segments_from_words, write_transcripts

TIMESTAMPS = ("none", "segment", "word")


class SpeechRecognitionOptions(TorchOptions):
    #: Longest sound a job may send, in seconds.
    max_audio_seconds: float = Field(default=DEFAULT_MAX_AUDIO_SECONDS, gt=0)
    #: Seconds of sound the model hears at a time; at most Whisper's window (30 s) for Whisper.
    chunk_seconds: float = Field(default=30.0, gt=0, le=600)
    #: Chunks per model call, of one job or of several.
    batch_size: int = Field(default=4, ge=1, le=256)


class SpeechRecognitionModel(PretrainedModel):
    description = "A transformers speech recognition model."
    modality = "text"
    task = "automatic-speech-recognition"
    requires = ("torch", "transformers", "av")
    Options: ClassVar[type[SpeechRecognitionOptions]] = SpeechRecognitionOptions
    options: SpeechRecognitionOptions

    def __init__(self, options: SpeechRecognitionOptions | None = None) -> None:
        super().__init__(options)
        assert options is not None
        self.declare(
            description=f"Speech recognition with the model at {options.source}",
            input_schema=input_schema(),
        )
        self.pipe: Any = None

    def setup(self) -> None:
        self.prepare()
        o = self.options
        self.pipe = self.pipeline("automatic-speech-recognition")
        tokenizer = self.pipe.tokenizer
        if tokenizer is not None and tokenizer.pad_token is None:
            # Batches are padded; Whisper's own files pad with <|endoftext|>, as this does.
            tokenizer.pad_token = tokenizer.eos_token
        features = self.pipe.feature_extractor
        self.sample_rate = int(features.sampling_rate)
        # Whisper hears at most its window (30 s): a longer chunk would lose its end.
        window = (
            getattr(features, "chunk_length", None) if self.pipe.type == "seq2seq_whisper" else None
        )
        self.chunk_seconds = min(o.chunk_seconds, window or o.chunk_seconds)
        # Whisper hears no more than its window; other models take a short tail with the chunk
        # before it, as a convolutional model (wav2vec2's kind) cannot take one shorter than
        # its kernels. A whole sound that short is padded with silence.
        self.fold_tail = self.pipe.type != "seq2seq_whisper"
        self.min_samples = fewest_samples(self.model.config)

    def teardown(self) -> None:
        super().teardown()
        self.pipe = None

    def usage(self, input: dict[str, Any]) -> Usage:
        timestamps = fill_defaults(self.input_schema, input).get("timestamps", "none")
        return Usage(outputs=1 if timestamps == "none" else 4)

    def batch_key(self, input: dict[str, Any]) -> str | None:
        params = fill_defaults(self.input_schema, input)
        return json.dumps([params.get("language"), params["task"], params["timestamps"]])

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        self.predict_batch([input], [ctx])

    def predict_batch(self, inputs: list[dict[str, Any]], ctxs: list[RunContext]) -> None:
        jobs = [
            Transcription(fill_defaults(self.input_schema, i), ctx)
            for i, ctx in zip(inputs, ctxs, strict=True)
        ]
        # Equal batch keys: the first job's settings are every job's.
        options = self._call_options(jobs[0].params)
        for job in jobs:
            if not job.ctx.stop_requested:
                job.audio = job.ctx.fetch_audio(
                    job.params["audio"],
                    sample_rate=self.sample_rate,
                    max_seconds=self.options.max_audio_seconds,
                )
                job.spans = self._spans(len(job.audio))
                job.chunks = len(job.spans)
        for group in self._groups(jobs):
            if all(job.ctx.stop_requested for job in jobs):
                raise Stopped()
            live = [(job, index) for job, index in group if not job.ctx.stop_requested]
            if not live:
                continue
            results = self.pipe(
                [self._piece(job, index) for job, index in live],
                batch_size=len(live),
                **options,
            )
            timed_words = options.get("return_timestamps") == "word"
            for (job, index), result in zip(live, results, strict=True):
                start, end = job.spans[index]
                rate = self.sample_rate
                job.add(result, start / rate, (end - start) / rate, timed_words)
                job.done += 1
                job.ctx.progress(job.done, job.chunks)
        if all(job.ctx.stop_requested for job in jobs):
            raise Stopped()
        for job in jobs:
            if not job.ctx.stop_requested:
                seconds = len(job.audio) / self.sample_rate
                write_transcripts(job.ctx, job.text(), job.segments(), seconds)

    def _spans(self, length: int) -> list[tuple[int, int]]:
        """Where the chunks of a sound of ``length`` samples start and end: ``chunk_seconds``
        each, a last one shorter than a second taken with the one before where the model
        allows it."""
        size = round(self.chunk_seconds * self.sample_rate)
        spans = [(start, min(start + size, length)) for start in range(0, length, size)]
        if self.fold_tail and len(spans) > 1 and spans[-1][1] - spans[-1][0] < self.sample_rate:
            end = spans.pop()[1]
            spans[-1] = (spans[-1][0], end)
        return spans

    def _piece(self, job: Transcription, index: int) -> Any:
        """A chunk's samples, padded with silence to the fewest the model takes."""
        import numpy as np

        start, end = job.spans[index]
        piece = job.audio[start:end]
        if len(piece) < self.min_samples:
            piece = np.pad(piece, (0, self.min_samples - len(piece)))
        return piece

    def _groups(self, jobs: list[Transcription]) -> Iterator[list[tuple[Transcription, int]]]:
        """The chunks of ``jobs``, ``batch_size`` at a time: a job's chunks in order, the
        jobs one after another."""
        chunks = [(job, index) for job in jobs for index in range(job.chunks)]
        size = self.options.batch_size
        for start in range(0, len(chunks), size):
            yield chunks[start : start + size]

    def _call_options(self, params: dict[str, Any]) -> dict[str, Any]:
        """The pipeline's keyword arguments for a job's language, task and timestamps; input
        this model cannot follow is refused."""
        kind = self.pipe.type
        options: dict[str, Any] = {}
        generate: dict[str, Any] = {}
        generation = getattr(self.model, "generation_config", None)  # CTC models have none
        multilingual = getattr(generation, "is_multilingual", None) is not False
        if kind == "seq2seq_whisper" and multilingual:
            if params.get("language") is not None:
                generate["language"] = self._language(params["language"])
            generate["task"] = params["task"]
        elif params.get("language") is not None or params["task"] != "transcribe":
            # Whisper's English-only checkpoints (*.en) refuse both, as other models ignore them.
            raise InputError("this model hears one language and only transcribes it")
        timestamps = params["timestamps"]
        if timestamps != "none":
            if kind == "seq2seq_whisper":
                options["return_timestamps"] = True if timestamps == "segment" else "word"
            elif kind in ("ctc", "ctc_with_lm"):
                # A CTC model times words only; segments are made from them.
                options["return_timestamps"] = "word"
            else:
                raise InputError("this model gives no timestamps: set timestamps to none")
        if generate:
            options["generate_kwargs"] = generate
        return options

    def _language(self, given: str) -> str:
        """Whisper's code for ``given`` (a code such as ``en`` or a name such as ``english``),
        refused when the model does not know it."""
        from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

        known = getattr(self.model.generation_config, "lang_to_id", None) or {}
        word = given.strip().lower()
        code = TO_LANGUAGE_CODE.get(word, word)
        if f"<|{code}|>" not in known:
            raise InputError(f"this model does not know the language {given!r}")
        return code


@dataclass
class Transcription:
    """One job's part of a call: its inputs, its sound, and what its chunks said so far."""

    params: dict[str, Any]
    ctx: RunContext
    audio: Any = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    chunks: int = 0
    done: int = 0
    texts: list[str] = field(default_factory=list)
    found: list[Segment] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)

    def add(self, result: dict[str, Any], offset: float, length: float, words: bool) -> None:
        """Take one chunk's text and timestamps (of ``words``, else of segments), moved by
        ``offset`` and kept inside the chunk (a model's last timestamp may be missing or run
        past the sound's end)."""
        self.texts.append(str(result.get("text", "")).strip())
        for piece in result.get("chunks", []):
            start, end = piece.get("timestamp") or (None, None)
            start = min(max(start or 0.0, 0.0), length)
            end = length if end is None else min(max(end, start), length)
            text = str(piece.get("text", ""))
            if words:
                self.words.append(Word(offset + start, offset + end, text))
            else:
                self.found.append(Segment(offset + start, offset + end, text.strip()))

    def text(self) -> str:
        return " ".join(text for text in self.texts if text)

    def segments(self) -> list[Segment] | None:
        """The timed segments, None without timestamps; made from the words where the model
        timed words (which the segments list only when word timestamps were asked for)."""
        timestamps = self.params["timestamps"]
        if timestamps == "none":
            return None
        if not self.words:
            return [segment for segment in self.found if segment.text]
        made = segments_from_words(self.words)
        return made if timestamps == "word" else [replace(s, words=None) for s in made]


def fewest_samples(config: Any) -> int:
    """The fewest samples a model with convolutions over the raw sound (wav2vec2 and its
    kind) takes for one frame; 0 for others."""
    kernels = getattr(config, "conv_kernel", None)
    strides = getattr(config, "conv_stride", None)
    if not kernels or not strides:
        return 0
    fewest = 1
    for kernel, stride in reversed(list(zip(kernels, strides, strict=False))):
        fewest = (fewest - 1) * stride + kernel
    return int(fewest)


def input_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["audio"],
        "properties": {
            "audio": {
                "type": "string",
                "format": AUDIO_REFERENCE,
                "title": "Audio",
                "description": "The sound to transcribe: an http(s) URL or a data: URI of WAV, "
                "FLAC, MP3, OGG, WebM or M4A audio.",
                "x-playground": {"widget": "file-upload", "uploadKind": "audio"},
            },
            "language": {
                "type": "string",
                "title": "Language",
                "description": "The language spoken, as a code (en, fr, ...) or a name; "
                "left out, the model finds it.",
                "minLength": 1,
                "maxLength": 40,
            },
            "task": {
                "type": "string",
                "title": "Task",
                "description": "transcribe: text in the language spoken; translate: in English.",
                "enum": ["transcribe", "translate"],
                "default": "transcribe",
                "x-playground": {"widget": "select"},
            },
            "timestamps": {
                "type": "string",
                "title": "Timestamps",
                "description": "segment or word: also write segments.json and SRT and WebVTT "
                "subtitles.",
                "enum": list(TIMESTAMPS),
                "default": "none",
                "x-playground": {"widget": "select"},
            },
        },
    }
