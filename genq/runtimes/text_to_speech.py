"""The transformers runtime's ``text-to-speech`` task: the models transformers' text-to-speech
pipeline runs without extra inputs, VITS (Meta's MMS voices among them) first. A model with
several speakers (``num_speakers`` in its config) takes the speaker's number.

The text is spoken a sentence at a time, so that a job reports progress and stops between
sentences; the pieces are joined into one file (WAV, MP3 or FLAC), resampled when the job asks
for another sample rate than the model's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from genq.media.encode import AUDIO_FORMATS, write_audio
from genq.models.base import InputError, RunContext, Usage, fill_defaults
from genq.models.inputs import SEED_MAX, default_seed
from genq.runtimes.device import TorchOptions
from genq.runtimes.pretrained import PretrainedModel, model_config
from genq.runtimes.sentences import split_sentences

#: Words a minute, to estimate a job's seconds of speech before it runs.
_WORDS_PER_MINUTE = 150


class TextToSpeechModel(PretrainedModel):
    description = "A transformers text-to-speech model."
    modality = "audio"
    task = "text-to-speech"
    requires = ("torch", "transformers", "av", "soundfile")
    Options: ClassVar[type[TorchOptions]] = TorchOptions

    def __init__(self, options: TorchOptions | None = None) -> None:
        super().__init__(options)
        assert options is not None
        self.speakers = int(model_config(options).get("num_speakers") or 1)
        self.declare(
            description=f"Text to speech with the model at {options.source}",
            input_schema=input_schema(self.speakers),
        )
        self.pipe: Any = None

    def setup(self) -> None:
        self.prepare()
        # text-to-audio: the pipeline of text-to-speech, by its own name.
        self.pipe = self.pipeline("text-to-audio")

    def teardown(self) -> None:
        super().teardown()
        self.pipe = None

    def usage(self, input: dict[str, Any]) -> Usage:
        words = len(str(input.get("text", "")).split())
        return Usage(outputs=1, media_seconds=round(words * 60 / _WORDS_PER_MINUTE, 3))

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        import numpy as np
        import torch

        params = fill_defaults(self.input_schema, input)
        sentences = split_sentences(params["text"])
        if not sentences:
            raise InputError("the text has nothing to say")
        # A sentence of nothing but characters the voice lacks (another script, emoji) is
        # no input at all to the model.
        sentences = [sentence for sentence in sentences if self._sayable(sentence)]
        if not sentences:
            raise InputError("the text has nothing this voice can say")
        seed = params.get("seed")
        torch.manual_seed(default_seed(params["text"]) if seed is None else seed)
        forward = {"speaker_id": params["speaker"]} if self.speakers > 1 else {}
        pieces = []
        rate = 0
        for index, sentence in enumerate(sentences):
            ctx.check_stop()
            spoken = self.pipe(sentence, forward_params=forward)
            pieces.append(np.asarray(spoken["audio"], dtype=np.float32).reshape(-1))
            rate = int(spoken["sampling_rate"])
            ctx.progress(index + 1, len(sentences) + 1)
        ctx.check_stop()
        samples = np.concatenate(pieces)
        wanted = params.get("sample_rate") or rate
        if params["format"] == "mp3":
            wanted = mp3_rate(wanted)
        if wanted != rate:
            samples, rate = resample(samples, rate, wanted), wanted
        written = write_audio(samples, rate, ctx.work_dir / "speech", params["format"])
        ctx.progress(len(sentences) + 1, len(sentences) + 1)
        written.add_to(ctx)

    def _sayable(self, sentence: str) -> bool:
        """Whether ``sentence`` has a token the voice knows (not only unknown, padding or
        other special tokens)."""
        tokenizer = self.pipe.tokenizer
        if tokenizer is None:
            return True
        special = set(tokenizer.all_special_ids)
        return any(token not in special for token in tokenizer(sentence)["input_ids"])


#: The sample rates an MP3 file can have (MPEG-1, 2 and 2.5).
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def mp3_rate(rate: int) -> int:
    """The sample rate an MP3 file takes for ``rate``: the nearest MP3 has at or above it."""
    return next((r for r in MP3_RATES if r >= rate), MP3_RATES[-1])


def resample(samples: Any, rate: int, wanted: int) -> Any:
    """Mono float32 ``samples`` at ``rate`` resampled to ``wanted``, with ffmpeg's resampler
    (through PyAV, which decodes reference sounds too)."""
    import av
    import numpy as np

    frame = av.AudioFrame.from_ndarray(samples[np.newaxis, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=wanted)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


def input_schema(speakers: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "text": {
            "type": "string",
            "title": "Text",
            "description": "What to say.",
            "minLength": 1,
            "maxLength": 5000,
            # Not only spaces.
            "pattern": "\\S",
            "x-playground": {"widget": "textarea", "rows": 4},
        },
    }
    if speakers > 1:
        properties["speaker"] = {
            "type": "integer",
            "title": "Speaker",
            "description": f"Which of the model's {speakers} voices speaks.",
            "default": 0,
            "minimum": 0,
            "maximum": speakers - 1,
        }
    properties |= {
        "format": {
            "type": "string",
            "title": "Format",
            "description": "Audio file format.",
            "enum": list(AUDIO_FORMATS),
            "default": "wav",
            "x-playground": {"widget": "select"},
        },
        "sample_rate": {
            "type": "integer",
            "title": "Sample rate",
            "description": "Samples a second of the file; left out, the model's own. An "
            "MP3 file has the nearest rate MP3 allows at or above it.",
            "minimum": 8000,
            "maximum": 48000,
            "x-playground": {"advanced": True},
        },
        "seed": {
            "type": "integer",
            "minimum": 0,
            "maximum": SEED_MAX,
            "x-playground": {"advanced": True},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": properties,
    }
