"""``tts``: a VITS text-to-speech model (transformers, the architecture of Meta's MMS voices),
16 kHz mono speech from text, with two speakers to choose from."""

from __future__ import annotations

from typing import Any

from genq.testing.tiny.parts import seeded
from genq.testing.tiny.tokenizers import vits_tokenizer

TTS_SAMPLING_RATE = 16_000
TTS_SPEAKERS = 2

# Samples per spectrogram frame (MMS's 256): the product of the decoder's upsampling rates.
TTS_HOP = 256


def build_tts(seed: int) -> list[Any]:
    from transformers import VitsConfig, VitsModel

    tokenizer = vits_tokenizer()
    config = VitsConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        # Only the posterior encoder, used in training, reads spectrograms.
        spectrogram_bins=9,
        num_speakers=TTS_SPEAKERS,
        speaker_embedding_size=8,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 2, 2],
        upsample_kernel_sizes=[16, 16, 4, 4],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        # A deterministic duration predictor: the length of the speech depends on the text
        # alone, and each character lasts at least one frame, so a longer text is longer speech.
        use_stochastic_duration_prediction=False,
        duration_predictor_filter_channels=16,
        prior_encoder_num_flows=2,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        sampling_rate=TTS_SAMPLING_RATE,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = seeded(seed, VitsModel, config=config)
    return [model, tokenizer]
