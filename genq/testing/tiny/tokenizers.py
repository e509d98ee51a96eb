"""Tokenizers of the tiny models, written out from a small built-in word list rather than
trained, so that nothing is downloaded and one word list gives the same files every time."""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


# Tiny models pad their vocabulary to this size (real models pad to a round size too), so the
# model sizes do not move when the word list below changes.
TINY_VOCAB = 2048

_WORD_LIST = """
a an the of in on at with and or by from to over under near behind above
photo painting drawing portrait landscape render sketch film still frame
cat dog bird horse fish fox owl lion tiger bear rabbit dragon robot astronaut
man woman child girl boy face eye eyes hand hair smile crowd people
house castle city street village bridge tower window door room garden road
tree forest flower grass leaf mountain hill river lake ocean sea beach island
sky cloud clouds sun moon star stars space planet rain snow storm fog wind fire
red orange yellow green blue purple pink brown black white gold silver gray
bright dark light soft sharp warm cold old young small large tiny huge
detailed colorful cinematic realistic beautiful quiet loud slow fast calm
morning evening night sunset sunrise winter summer spring autumn
music piano guitar drum drums violin voice song speech sound noise beat bass
walking running flying dancing singing playing sitting standing talking
hello world please write tell me about what how why when where who is are was
user assistant system
"""

# Tokenizers are written out, not trained: the tokenizers library's trainers number tokens in
# hash-map order, so two trainings on the same text give different files.


def _words() -> list[str]:
    # Longest first: their merges rank highest, so more words come out as one token.
    return sorted(set(_WORD_LIST.split()), key=lambda word: (-len(word), word))


def _byte_level_bpe(
    specials: list[str], spellings: Iterable[list[str]], word_end: str = ""
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Every byte as a token (and at a word's end, where the model marks it), then one chain of
    merges per spelling that joins it into a single token."""
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    tokens = [*specials, *alphabet, *(char + word_end for char in alphabet if word_end)]
    merges: list[tuple[str, str]] = []
    for symbols in spellings:
        joined = symbols[0]
        for symbol in symbols[1:]:
            merges.append((joined, symbol))
            joined += symbol
            tokens.append(joined)
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    return vocab, list(dict.fromkeys(merges))


def _pairs(merges: list[tuple[str, str]]) -> Any:
    # The tokenizers library takes merges as (left, right) pairs, although transformers'
    # annotations say strings.
    return merges


def token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of one token, known to be in the vocabulary."""
    found = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(found, int)
    return found


def _check_size(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    if len(tokenizer) > TINY_VOCAB:  # pragma: no cover - guards edits of the word list
        raise AssertionError(f"tokenizer has {len(tokenizer)} tokens, models have {TINY_VOCAB}")
    return tokenizer


def clip_tokenizer() -> PreTrainedTokenizerBase:
    """Byte-level BPE like CLIP's: lower case, words end in </w>; <|startoftext|> is id 0 and
    <|endoftext|> (end and padding) id 1."""
    from transformers import CLIPTokenizer

    vocab, merges = _byte_level_bpe(
        ["<|startoftext|>", "<|endoftext|>"],
        ([*word[:-1], word[-1] + "</w>"] for word in _words()),
        word_end="</w>",
    )
    # Stable Diffusion pads every prompt to model_max_length: CLIP's 77 positions.
    tokenizer = CLIPTokenizer(vocab=vocab, merges=_pairs(merges), model_max_length=77)
    return _check_size(tokenizer)


def t5_tokenizer(max_length: int) -> PreTrainedTokenizerBase:
    """Unigram like T5's (<pad> 0, </s> 1, <unk> 2), without T5's 100 sentinel tokens."""
    from transformers import T5Tokenizer

    # Scores are log-probabilities: a known word is one piece, anything else spelled out.
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(char, -10.0) for char in string.ascii_letters + string.digits + string.punctuation]
    pieces += [("\u2581" + word, -5.0) for word in _words()]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)
    return _check_size(tokenizer)


CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_TURN_MARKERS = ["<|im_start|>", "<|im_end|>"]


def gpt2_tokenizer() -> PreTrainedTokenizerBase:
    """GPT-2's byte-level BPE plus ChatML's two turn markers and a chat template."""
    from transformers import GPT2Tokenizer

    space = "\u0120"  # GPT-2's byte-level stand-in for a leading space
    words = _words()
    vocab, merges = _byte_level_bpe(
        ["<|endoftext|>", *_TURN_MARKERS],
        [*([space, *word] for word in words), *(list(word) for word in words)],
    )
    tokenizer = GPT2Tokenizer(
        vocab=vocab, merges=_pairs(merges), pad_token="<|endoftext|>", model_max_length=512
    )
    tokenizer.add_special_tokens({"additional_special_tokens": _TURN_MARKERS})
    tokenizer.chat_template = CHAT_TEMPLATE
    return _check_size(tokenizer)


# Whisper's special tokens after <|endoftext|>, in Whisper's order: a language's token id is
# <|startoftranscript|>'s plus one plus the language's place in transformers' LANGUAGES table, and
# the timestamp tokens start right after <|notimestamps|>.
WHISPER_TASK_TOKENS = [
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
]
# Whisper's timestamps: 0.00 s to 30.00 s in steps of 0.02 s.
WHISPER_TIMESTAMPS = [f"<|{index * 0.02:.2f}|>" for index in range(1501)]


def whisper_languages() -> list[str]:
    """Whisper's language codes in its token order (transformers' own table)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return list(LANGUAGES)


def whisper_tokenizer() -> PreTrainedTokenizerBase:
    """Whisper's byte-level BPE: the word list's tokens, then <|endoftext|>, the special tokens
    and the 1501 timestamp tokens at the end of the vocabulary, where Whisper has them.

    It has more tokens than ``TINY_VOCAB``: the timestamp tokens alone are 1501, and they must be
    the vocabulary's last ids (every id above <|notimestamps|> is read as a timestamp)."""
    from tokenizers import AddedToken
    from transformers import WhisperTokenizer

    space = "\u0120"
    words = _words()
    vocab, merges = _byte_level_bpe(
        [], [*([space, *word] for word in words), *(list(word) for word in words)]
    )
    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in whisper_languages()),
        *WHISPER_TASK_TOKENS,
    ]
    for token in [*specials, *WHISPER_TIMESTAMPS]:
        vocab[token] = len(vocab)
    # Padding is <|endoftext|>, as in Whisper's files: a batch needs a pad token.
    tokenizer = WhisperTokenizer(
        vocab=vocab, merges=_pairs(merges), pad_token="<|endoftext|>", model_max_length=448
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    # As in Whisper's own files, timestamps are added tokens but not special ones: decoding with
    # skip_special_tokens keeps them where asked for.
    tokenizer.add_tokens([AddedToken(token, special=False) for token in WHISPER_TIMESTAMPS])
    return tokenizer


def blip_tokenizer() -> PreTrainedTokenizerBase:
    """BERT's WordPiece as BLIP uses it: lower case, [PAD] 0, [UNK], [CLS], [SEP] (a caption's
    end), [MASK], and BLIP's [DEC] (the decoder's first token, standing where [CLS] was) as the
    beginning of a sequence."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    # Any word is spelled from single characters when it is not in the list.
    characters = string.ascii_lowercase + string.digits + string.punctuation
    tokens = [*specials, *characters, *("##" + char for char in characters), *_words()]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]", model_max_length=512)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    return _check_size(tokenizer)


def vits_tokenizer() -> PreTrainedTokenizerBase:
    """Characters, as MMS text-to-speech models spell their input: lower case letters, digits, a
    space and a little punctuation, with <pad> (id 0) between every two of them. Other
    characters are dropped; nothing is turned into phonemes, so no phonemizer is needed."""
    import json
    import tempfile
    from pathlib import Path

    from transformers import VitsTokenizer

    characters = [" ", *string.ascii_lowercase, *string.digits, *"'-,.!?"]
    vocab = {token: index for index, token in enumerate(["<pad>", "<unk>", *characters])}
    # The tokenizer reads its vocabulary from a file only.
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "vocab.json"
        path.write_text(json.dumps(vocab))
        return VitsTokenizer(vocab_file=str(path), phonemize=False, normalize=True)
