"""``sd`` and ``sd15``: the Stable Diffusion 1.x layout (``StableDiffusionPipeline``), tiny or
at Stable Diffusion 1.5's real sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from genq.testing.tiny.parts import clip_text_config, clip_text_encoder, seeded
from genq.testing.tiny.tokenizers import TINY_VOCAB, clip_tokenizer


@dataclass(frozen=True)
class SDConfigs:
    """Constructor arguments of a Stable Diffusion pipeline's models."""

    unet: dict[str, Any]
    vae: dict[str, Any]
    text_encoder: dict[str, Any]
    scheduler: dict[str, Any] = field(
        default_factory=lambda: {
            # Stable Diffusion 1.x's training schedule; DDIM with eta=0 adds no noise while
            # sampling, so a seed fixes the result.
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "clip_sample": False,
            "set_alpha_to_one": False,
            "steps_offset": 1,
        }
    )


def sd_configs(kind: Literal["sd", "sd15"]) -> SDConfigs:
    """The model configs of ``sd`` or ``sd15``: sizes a model without building it."""
    if kind == "sd15":
        return SDConfigs(
            unet={
                "sample_size": 64,
                "block_out_channels": (320, 640, 1280, 1280),
                "layers_per_block": 2,
                "cross_attention_dim": 768,
                "attention_head_dim": 8,
                "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            },
            vae={
                "sample_size": 512,
                "block_out_channels": (128, 256, 512, 512),
                "layers_per_block": 2,
                "down_block_types": ("DownEncoderBlock2D",) * 4,
                "up_block_types": ("UpDecoderBlock2D",) * 4,
                "latent_channels": 4,
                "scaling_factor": 0.18215,
            },
            text_encoder=clip_text_config(
                vocab_size=49408, hidden=768, layers=12, heads=12, intermediate=3072
            ),
        )
    # Same layout with few channels: four VAE levels keep the real 8x latent scale, so 64x64
    # pictures have 8x8 latents and sizes must be multiples of 8 as with the real model.
    return SDConfigs(
        unet={
            "sample_size": 8,
            "block_out_channels": (16, 32),
            "layers_per_block": 1,
            "cross_attention_dim": 32,
            "attention_head_dim": 2,
            "norm_num_groups": 8,
            "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        },
        vae={
            "sample_size": 64,
            "block_out_channels": (8, 16, 16, 16),
            "layers_per_block": 1,
            "norm_num_groups": 4,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "latent_channels": 4,
            "scaling_factor": 0.18215,
        },
        text_encoder=clip_text_config(
            vocab_size=TINY_VOCAB, hidden=32, layers=2, heads=4, intermediate=64
        ),
    )


def build_sd(seed: int, kind: Literal["sd", "sd15"]) -> list[Any]:
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    configs = sd_configs(kind)
    pipe = StableDiffusionPipeline(
        vae=seeded(seed, AutoencoderKL, **configs.vae),
        text_encoder=clip_text_encoder(configs.text_encoder, seed),
        tokenizer=clip_tokenizer(),
        unet=seeded(seed, UNet2DConditionModel, **configs.unet),
        scheduler=DDIMScheduler(**configs.scheduler),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return [pipe]
