"""``whisper``: a Whisper speech recognition model (transformers), automatic-speech-recognition
and translation of 16 kHz audio in 30-second windows, with segment and word timestamps."""

from __future__ import annotations

from typing import Any

from genq.testing.tiny.parts import seeded
from genq.testing.tiny.tokenizers import (
    token_id,
    whisper_languages,
    whisper_tokenizer,
)

WHISPER_SAMPLING_RATE = 16_000

# Random weights rarely pick <|endoftext|>: each pass over a 30-second window runs to this many
# tokens, so it is kept small. It is max_length, as in Whisper's own generation config (448
# there), not max_new_tokens, which would override a caller's max_length.
WHISPER_MAX_LENGTH = 24


def build_whisper(seed: int) -> list[Any]:
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    tokenizer = whisper_tokenizer()
    ids = {token: token_id(tokenizer, token) for token in tokenizer.all_special_tokens}
    end_of_text = ids["<|endoftext|>"]
    start = ids["<|startoftranscript|>"]
    # As Whisper does, a transcript starts with neither a bare space nor its end.
    begin_suppress = [token_id(tokenizer, "\u0120"), end_of_text]
    # Whisper's real sizes where the audio needs them: 80 mel bins, 1500 encoder positions (30
    # seconds after the encoder's stride-2 convolution) and 448 decoder positions.
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=end_of_text,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        decoder_start_token_id=start,
        begin_suppress_tokens=begin_suppress,
    )
    model = seeded(seed, WhisperForConditionalGeneration, config=config)
    # What Whisper's generate reads besides the usual: the language and task tokens, where the
    # timestamps start, and the cross-attention heads that align words with the audio.
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        pad_token_id=end_of_text,
        max_length=WHISPER_MAX_LENGTH,
        is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in whisper_languages()},
        task_to_id={
            "translate": ids["<|translate|>"],
            "transcribe": ids["<|transcribe|>"],
        },
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        suppress_tokens=[],
        begin_suppress_tokens=begin_suppress,
        max_initial_timestamp_index=50,
        alignment_heads=[[0, 0], [0, 1]],
    )
    processor = WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(
            feature_size=80, sampling_rate=WHISPER_SAMPLING_RATE
        ),
        tokenizer=tokenizer,
    )
    return [model, processor]
