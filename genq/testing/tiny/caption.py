"""``caption``: a BLIP captioning model (transformers), image-to-text: a caption of a picture, or
the rest of a text prompt about it (conditional captioning, questions asked as prompts)."""

from __future__ import annotations

from typing import Any

from genq.testing.tiny.parts import seeded
from genq.testing.tiny.tokenizers import blip_tokenizer, token_id

# Pictures of any size are resized to this square; 4 patches of 16 pixels a side.
CAPTION_IMAGE_SIZE = 32

# Random weights rarely pick [SEP]: a caption runs to this many new tokens unless asked otherwise.
CAPTION_MAX_NEW_TOKENS = 8


def build_caption(seed: int) -> list[Any]:
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
        GenerationConfig,
    )

    tokenizer = blip_tokenizer()
    begin = token_id(tokenizer, "[DEC]")
    end = token_id(tokenizer, "[SEP]")
    pad = token_id(tokenizer, "[PAD]")
    config = BlipConfig(
        text_config={
            # No padding to TINY_VOCAB: every id the model picks is a token that decodes to text.
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "encoder_hidden_size": 32,
            "intermediate_size": 64,
            "projection_dim": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "bos_token_id": begin,
            "eos_token_id": end,
            "sep_token_id": end,
            "pad_token_id": pad,
            # BLIP's generate hands over to its text decoder, whose generation config comes from
            # this text config, not from generation_config.json.
            "max_new_tokens": CAPTION_MAX_NEW_TOKENS,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "projection_dim": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": CAPTION_IMAGE_SIZE,
            "patch_size": 16,
        },
        projection_dim=32,
        image_text_hidden_size=32,
    )
    model = seeded(seed, BlipForConditionalGeneration, config=config)
    model.generation_config = GenerationConfig(
        bos_token_id=begin,
        eos_token_id=end,
        pad_token_id=pad,
        max_new_tokens=CAPTION_MAX_NEW_TOKENS,
    )
    # The same files as BlipImageProcessor's, without its warning when torchvision is missing.
    image_processor = BlipImageProcessorPil(
        size={"height": CAPTION_IMAGE_SIZE, "width": CAPTION_IMAGE_SIZE}
    )
    return [model, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)]
