"""``audio``: the Stable Audio Open layout (``StableAudioPipeline``), text-to-audio at 16 kHz,
stereo, up to 1.024 s."""

from __future__ import annotations

import warnings
from typing import Any

from genq.testing.tiny.parts import seeded, t5_encoder
from genq.testing.tiny.tokenizers import t5_tokenizer

AUDIO_SAMPLING_RATE = 16_000

# diffusers' Oobleck VAE still uses torch's old weight_norm; loading the model warns the same way.
OOBLECK_WARNING = r"`torch\.nn\.utils\.weight_norm` is deprecated"


def _oobleck() -> Any:
    from diffusers import AutoencoderOobleck

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", OOBLECK_WARNING, FutureWarning)
        # 256 samples per latent frame and 64 frames: at most 16384 samples, 1.024 s at 16 kHz.
        return AutoencoderOobleck(
            encoder_hidden_size=8,
            downsampling_ratios=[2, 4, 4, 8],
            channel_multiples=[1, 2, 4, 4],
            decoder_channels=8,
            decoder_input_channels=4,
            audio_channels=2,
            sampling_rate=AUDIO_SAMPLING_RATE,
        )


def build_audio(seed: int) -> list[Any]:
    from diffusers import (
        EDMDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )

    pipe = StableAudioPipeline(
        vae=seeded(seed, _oobleck),
        text_encoder=t5_encoder(seed),
        # The text encoder's width (32): the projection passes the text through unchanged.
        projection_model=seeded(
            seed,
            StableAudioProjectionModel,
            text_encoder_dim=32,
            conditioning_dim=32,
            min_value=0,
            max_value=512,
        ),
        tokenizer=t5_tokenizer(128),
        transformer=seeded(
            seed,
            StableAudioDiTModel,
            sample_size=64,
            in_channels=4,
            out_channels=4,
            num_layers=2,
            attention_head_dim=8,
            num_attention_heads=4,
            num_key_value_attention_heads=2,
            cross_attention_dim=32,
            time_proj_dim=16,
            global_states_input_dim=64,
            cross_attention_input_dim=32,
        ),
        # Stable Audio Open ships CosineDPMSolverMultistepScheduler, whose sampler needs torchsde;
        # the deterministic EDM DPM-Solver++ (the pipeline's declared scheduler) needs nothing.
        scheduler=EDMDPMSolverMultistepScheduler(
            sigma_min=0.3,
            sigma_max=500.0,
            sigma_data=1.0,
            sigma_schedule="exponential",
            prediction_type="v_prediction",
        ),
    )
    return [pipe]
