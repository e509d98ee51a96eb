"""``flux``: the FLUX.1 layout (``FluxPipeline``: CLIP and T5 text encoders, a flow-matching
transformer), text-to-image."""

from __future__ import annotations

from typing import Any

from genq.testing.tiny.parts import clip_text_encoder, seeded, t5_encoder
from genq.testing.tiny.sd import sd_configs
from genq.testing.tiny.tokenizers import clip_tokenizer, t5_tokenizer


def build_flux(seed: int) -> list[Any]:
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )

    sd = sd_configs("sd")
    clip = sd.text_encoder
    pipe = FluxPipeline(
        # FLUX packs 2x2 latent patches into one token, so the transformer sees 4x the VAE's
        # latent channels and a picture side must be a multiple of 16.
        transformer=seeded(
            seed,
            FluxTransformer2DModel,
            patch_size=1,
            in_channels=16,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=clip["hidden_size"],
            axes_dims_rope=(4, 6, 6),
        ),
        # The tiny Stable Diffusion VAE, without FLUX's unused convolutions and with its
        # latent scaling.
        vae=seeded(
            seed,
            AutoencoderKL,
            **{
                **sd.vae,
                "use_quant_conv": False,
                "use_post_quant_conv": False,
                "scaling_factor": 0.3611,
                "shift_factor": 0.1159,
            },
        ),
        text_encoder=clip_text_encoder(clip, seed),
        tokenizer=clip_tokenizer(),
        text_encoder_2=t5_encoder(seed),
        tokenizer_2=t5_tokenizer(512),
        # FLUX.1 [schnell]'s scheduler: a fixed shift, whatever the picture size.
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False),
    )
    return [pipe]
