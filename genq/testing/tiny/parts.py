"""What several kinds of tiny model are built from: seeded construction and the CLIP and T5
text encoders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from genq.testing.tiny.tokenizers import TINY_VOCAB

T = TypeVar("T")


def seeded(seed: int, make: Callable[..., T], /, **kwargs: Any) -> T:
    """``make(**kwargs)`` right after ``torch.manual_seed(seed)``, so that a component's
    weights depend on the seed alone, not on what was built before it."""
    import torch

    torch.manual_seed(seed)
    return make(**kwargs)


def clip_text_config(
    *, vocab_size: int, hidden: int, layers: int, heads: int, intermediate: int
) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "projection_dim": hidden,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        # The ids of clip_tokenizer(): the pooled output is read at the first <|endoftext|>.
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }


def clip_text_encoder(config: dict[str, Any], seed: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return seeded(seed, CLIPTextModel, config=CLIPTextConfig(**config))


def t5_encoder(seed: int) -> Any:
    """A two-layer T5 v1.1 encoder (gated GELU), the text encoder of FLUX, LTX and Stable Audio."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=TINY_VOCAB,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        pad_token_id=0,
        eos_token_id=1,
    )
    return seeded(seed, T5EncoderModel, config=config)
