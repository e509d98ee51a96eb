"""``ltx``: the LTX-Video layout (``LTXPipeline``); ``LTXImageToVideoPipeline`` loads the same
folder."""

from __future__ import annotations

from typing import Any

from genq.testing.tiny.parts import seeded, t5_encoder
from genq.testing.tiny.tokenizers import t5_tokenizer


def build_ltx(seed: int) -> list[Any]:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    pipe = LTXPipeline(
        transformer=seeded(
            seed,
            LTXVideoTransformer3DModel,
            in_channels=8,
            out_channels=8,
            patch_size=1,
            patch_size_t=1,
            num_attention_heads=4,
            attention_head_dim=8,
            cross_attention_dim=32,
            num_layers=1,
            caption_channels=32,
        ),
        # LTX-Video's real compression (32x in space, 8x in time) from a 4x4 patch and three
        # scaling levels: sides must be multiples of 32 and frame counts 8k+1, as for the real
        # model.
        vae=seeded(
            seed,
            AutoencoderKLLTXVideo,
            latent_channels=8,
            block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            layers_per_block=(1, 1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1, 1),
            spatio_temporal_scaling=(True, True, True, False),
            decoder_spatio_temporal_scaling=(True, True, True, False),
            decoder_inject_noise=(False,) * 5,
            upsample_residual=(False,) * 4,
            upsample_factor=(1,) * 4,
            timestep_conditioning=False,
            patch_size=4,
            patch_size_t=1,
        ),
        text_encoder=t5_encoder(seed),
        tokenizer=t5_tokenizer(128),
        # LTX-Video 0.9's scheduler settings.
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.95,
            max_shift=2.05,
            base_image_seq_len=1024,
            max_image_seq_len=4096,
            shift_terminal=0.1,
        ),
    )
    return [pipe]
