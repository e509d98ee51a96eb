"""Tiny random-weight pipelines, saved like real checkpoints, for tests and benchmarks.

The diffusers and transformers runtimes load models with ``from_pretrained`` from a folder. Real
checkpoints are gigabytes and need a download; the kinds built here have the same architecture,
the same component classes and the same folder layout (``model_index.json``, one sub-folder per
component, safetensors weights, tokenizer files), but a few thousand to a few million random
weights. So a test goes through the very loading and calling code a real model would, offline, in
seconds on a CPU; the pictures, videos, sounds and texts that come out are noise.

Kinds (``KINDS``; ``genq models make-tiny DIR`` builds the default ones):

- ``sd``: Stable Diffusion 1.x layout (``StableDiffusionPipeline``). diffusers' auto pipelines
  load the same folder for text-to-image, image-to-image and inpainting.
- ``flux``: FLUX.1 layout (``FluxPipeline``: CLIP and T5 text encoders, a flow-matching
  transformer), text-to-image.
- ``ltx``: LTX-Video layout (``LTXPipeline``); ``LTXImageToVideoPipeline`` loads the same folder.
- ``audio``: Stable Audio Open layout (``StableAudioPipeline``), text-to-audio.
- ``gpt2``: a GPT-2 causal language model with a chat template (transformers), text-generation.
- ``whisper``: a Whisper speech recognition model (transformers) with Whisper's special and
  timestamp tokens, automatic-speech-recognition of 16 kHz audio: transcription and translation,
  a language to choose, segment and word timestamps, 30-second windows.
- ``caption``: a BLIP captioning model (transformers), image-to-text: a caption of a picture, or
  the continuation of a text prompt about it (which is how it answers a question).
- ``tts``: a VITS text-to-speech model (transformers, as Meta's MMS voices), text-to-speech:
  16 kHz mono speech, longer for a longer text, in one of two speakers' voices.
- ``sd15``: not built by default. Stable Diffusion 1.5's real sizes (about 1.07 billion random
  weights, 4.3 GB) for GPU benchmarks: the work per step of the real model without its weights.

Tokenizers are trained here on a small built-in word list, so nothing is downloaded. Every
component is built right after ``torch.manual_seed(seed)``: one seed gives the same bytes, and a
component's weights do not depend on what was built before it.

One module builds each kind (``sd.py`` both Stable Diffusion kinds); ``tokenizers.py`` and
``parts.py`` hold what they share. torch, diffusers and transformers are imported inside the
functions: the CLI imports this package to list the kinds without paying for them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from genq.testing.tiny.audio import AUDIO_SAMPLING_RATE, OOBLECK_WARNING, build_audio
from genq.testing.tiny.caption import CAPTION_IMAGE_SIZE, CAPTION_MAX_NEW_TOKENS, build_caption
from genq.testing.tiny.flux import build_flux
from genq.testing.tiny.gpt2 import build_gpt2
from genq.testing.tiny.ltx import build_ltx
from genq.testing.tiny.sd import SDConfigs, build_sd, sd_configs
from genq.testing.tiny.tokenizers import (
    CHAT_TEMPLATE,
    TINY_VOCAB,
    blip_tokenizer,
    clip_tokenizer,
    gpt2_tokenizer,
    t5_tokenizer,
    token_id,
    vits_tokenizer,
    whisper_languages,
    whisper_tokenizer,
)
from genq.testing.tiny.tts import TTS_HOP, TTS_SAMPLING_RATE, TTS_SPEAKERS, build_tts
from genq.testing.tiny.whisper import WHISPER_MAX_LENGTH, WHISPER_SAMPLING_RATE, build_whisper

__all__ = [
    "AUDIO_SAMPLING_RATE",
    "AUTOMATIC_SPEECH_RECOGNITION",
    "CAPTION_IMAGE_SIZE",
    "CAPTION_MAX_NEW_TOKENS",
    "CHAT_TEMPLATE",
    "IMAGE_TO_IMAGE",
    "IMAGE_TO_TEXT",
    "IMAGE_TO_VIDEO",
    "INPAINTING",
    "KINDS",
    "OOBLECK_WARNING",
    "TEXT_GENERATION",
    "TEXT_TO_AUDIO",
    "TEXT_TO_IMAGE",
    "TEXT_TO_SPEECH",
    "TEXT_TO_VIDEO",
    "TINY_VOCAB",
    "TTS_HOP",
    "TTS_SAMPLING_RATE",
    "TTS_SPEAKERS",
    "WHISPER_MAX_LENGTH",
    "WHISPER_SAMPLING_RATE",
    "Kind",
    "SDConfigs",
    "blip_tokenizer",
    "clip_tokenizer",
    "default_kinds",
    "gpt2_tokenizer",
    "make_tiny",
    "sd_configs",
    "t5_tokenizer",
    "token_id",
    "vits_tokenizer",
    "whisper_languages",
    "whisper_tokenizer",
]

TEXT_TO_IMAGE = "text-to-image"
IMAGE_TO_IMAGE = "image-to-image"
INPAINTING = "inpainting"
TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
TEXT_TO_AUDIO = "text-to-audio"
TEXT_GENERATION = "text-generation"
AUTOMATIC_SPEECH_RECOGNITION = "automatic-speech-recognition"
IMAGE_TO_TEXT = "image-to-text"
TEXT_TO_SPEECH = "text-to-speech"


@dataclass(frozen=True)
class Kind:
    """What a kind of tiny model is for, and which library loads it."""

    description: str
    tasks: tuple[str, ...]
    library: Literal["diffusers", "transformers"]
    default: bool = True


KINDS: dict[str, Kind] = {
    "sd": Kind(
        "Stable Diffusion 1.x layout; 64x64 by default, sides multiples of 8",
        (TEXT_TO_IMAGE, IMAGE_TO_IMAGE, INPAINTING),
        "diffusers",
    ),
    "flux": Kind(
        "FLUX.1 layout (CLIP + T5, flow matching); sides multiples of 16, 1024 by default",
        (TEXT_TO_IMAGE,),
        "diffusers",
    ),
    "ltx": Kind(
        "LTX-Video layout; sides multiples of 32, 8k+1 frames",
        (TEXT_TO_VIDEO, IMAGE_TO_VIDEO),
        "diffusers",
    ),
    "audio": Kind(
        "Stable Audio Open layout; 16 kHz stereo, up to 1.024 s", (TEXT_TO_AUDIO,), "diffusers"
    ),
    "gpt2": Kind(
        "GPT-2 causal language model with a chat template", (TEXT_GENERATION,), "transformers"
    ),
    "whisper": Kind(
        "Whisper speech recognition; 16 kHz audio in 30 s windows, segment and word timestamps",
        (AUTOMATIC_SPEECH_RECOGNITION,),
        "transformers",
    ),
    "caption": Kind(
        "BLIP captioning; pictures resized to 32x32, an optional text prompt to continue",
        (IMAGE_TO_TEXT,),
        "transformers",
    ),
    "tts": Kind(
        "VITS text-to-speech (as MMS); 16 kHz mono, two speakers", (TEXT_TO_SPEECH,), "transformers"
    ),
    "sd15": Kind(
        "Stable Diffusion 1.5 at its real sizes (1.07 B random weights, 4.3 GB), 512x512 images",
        (TEXT_TO_IMAGE, IMAGE_TO_IMAGE, INPAINTING),
        "diffusers",
        default=False,
    ),
}


def make_tiny(
    directory: Path, kinds: Iterable[str] | None = None, *, seed: int = 0
) -> dict[str, Path]:
    """Build each kind (default: the default kinds) into ``directory / kind``; kind -> folder.

    A kind's folder is replaced as a whole, so a build that fails half-way leaves no folder that
    looks complete.
    """
    names = default_kinds() if kinds is None else list(dict.fromkeys(kinds))
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise ValueError(
            f"unknown tiny model kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {name: _build_into(directory, name, seed) for name in names}


def default_kinds() -> list[str]:
    return [name for name, kind in KINDS.items() if kind.default]


def _build_into(directory: Path, name: str, seed: int) -> Path:
    import torch

    final = directory / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory))
    try:
        # Building reseeds the global generator; the caller's random state is not ours to change.
        with torch.random.fork_rng(devices=[]):
            parts = _BUILDERS[name](seed)
        for part in parts:
            part.save_pretrained(staging)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


# Each builder returns what goes into the kind's folder: a pipeline, or a model and its tokenizer.
_BUILDERS: dict[str, Callable[[int], list[Any]]] = {
    "sd": lambda seed: build_sd(seed, "sd"),
    "flux": build_flux,
    "ltx": build_ltx,
    "audio": build_audio,
    "gpt2": build_gpt2,
    "whisper": build_whisper,
    "caption": build_caption,
    "tts": build_tts,
    "sd15": lambda seed: build_sd(seed, "sd15"),
}
