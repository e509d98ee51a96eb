"""``gpt2``: a GPT-2 causal language model with a chat template (transformers),
text-generation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genq.testing.tiny.parts import seeded
from genq.testing.tiny.tokenizers import TINY_VOCAB, gpt2_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def build_gpt2(seed: int) -> list[Any]:
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    tokenizer = gpt2_tokenizer()
    end_of_text = _token_id(tokenizer, "<|endoftext|>")
    end_of_turn = _token_id(tokenizer, "<|im_end|>")
    config = GPT2Config(
        vocab_size=TINY_VOCAB,
        n_positions=tokenizer.model_max_length,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        pad_token_id=end_of_text,
    )
    model = seeded(seed, GPT2LMHeadModel, config=config)
    # A chat reply ends at the end of its turn.
    model.generation_config = GenerationConfig(
        bos_token_id=end_of_text,
        eos_token_id=[end_of_turn, end_of_text],
        pad_token_id=end_of_text,
    )
    return [model, tokenizer]


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(token_id, int)
    return token_id
