"""``demo-audio``: procedural ambient sound from a prompt, standing in for a text-to-audio
model (which takes a prompt and a duration in seconds).

It needs no weights and no GPU: the prompt and seed pick the colour of a noise bed, its gusts
or swell, a whistling band, soft tones and drops or crackles (see ``genq.demos.soundscape``);
words such as "rain", "wind", "sea", "fire" or "drone" lean the picks their way. Sound is made
one second at a time, so a job reports progress and can stop between seconds. Same prompt,
seed and settings give the same bytes.

soundfile is imported only while the file is written (in ``encode.write_audio``): the API
process reads this class without the demo extra.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from genq.demos.inputs import format_property, input_object, prompt_property, seed_property
from genq.demos.soundscape import Soundscape, character_of, finished
from genq.media.encode import AUDIO_FORMATS, write_audio
from genq.models.base import Model, Price, RunContext, Usage, fill_defaults
from genq.models.inputs import chosen_seed, stable_seed

SAMPLE_RATES = (16000, 22050, 44100)
MAX_DURATION = 300
DEFAULT_DURATION = 8


class DemoAudio(Model):
    name = "demo-audio"
    description = (
        "Procedural ambient sound: rain, wind, sea, fire or drones (no weights, CPU only)."
    )
    modality = "audio"
    price = Price(per_second=0.001)
    requires = ("soundfile",)
    extra = "demo"
    input_schema: ClassVar[dict[str, Any]] = input_object(
        "prompt",
        {
            "prompt": prompt_property(
                "What it should sound like; words such as rain, wind, sea, fire or drone pick "
                "the kind of sound."
            ),
            "duration": {
                "type": "number",
                "title": "Duration (s)",
                "description": "Length of the sound in seconds.",
                "default": DEFAULT_DURATION,
                "minimum": 1,
                "maximum": MAX_DURATION,
                "x-playground": {"widget": "slider", "step": 1},
            },
            "seed": seed_property("sound"),
            "sample_rate": {
                "type": "integer",
                "title": "Sample rate (Hz)",
                "description": "Samples per second of the file.",
                "enum": list(SAMPLE_RATES),
                "default": SAMPLE_RATES[0],
                "x-playground": {"widget": "select", "advanced": True},
            },
            "output_format": format_property("Audio file format.", AUDIO_FORMATS),
        },
    )

    def usage(self, input: dict[str, Any]) -> Usage:
        return Usage(outputs=1, media_seconds=float(input.get("duration") or DEFAULT_DURATION))

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        params = fill_defaults(self.input_schema, input)
        prompt: str = params["prompt"]
        seed = chosen_seed(params, ctx.log)
        rate: int = params["sample_rate"]
        total = max(1, round(float(params["duration"]) * rate))

        rng = np.random.default_rng(stable_seed("demo-audio", prompt, seed))
        scape = Soundscape(rng, character_of(prompt), rate, total)
        blocks = math.ceil(total / scape.block)
        samples = np.empty(total, dtype=np.float32)
        for index in range(blocks):
            ctx.check_stop()
            start = index * scape.block
            samples[start : start + scape.block] = scape.render(start)
            ctx.progress(index + 1, blocks + 1)
        ctx.check_stop()
        written = write_audio(
            finished(samples, rate), rate, ctx.work_dir / "audio", params["output_format"]
        )
        ctx.progress(blocks + 1, blocks + 1)
        written.add_to(ctx)
