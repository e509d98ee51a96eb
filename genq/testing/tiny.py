"""Tiny random-weight pipelines, saved like real checkpoints, for tests and benchmarks.

The diffusers and transformers runtimes load models with ``from_pretrained`` from a folder. Real
checkpoints are gigabytes and need a download; the kinds built here have the same architecture,
the same component classes and the same folder layout (``model_index.json``, one sub-folder per
component, safetensors weights, tokenizer files), but a few thousand to a few million random
weights. So a test goes through the very loading and calling code a real model would, offline, in
seconds on a CPU; the pictures, videos, sounds and texts that come out are noise.

Kinds (``KINDS``; ``genq models make-tiny DIR`` builds the default ones):

- ``sd``: Stable Diffusion 1.x layout (``StableDiffusionPipeline``). diffusers' auto pipelines
  load the same folder for text-to-image, image-to-image and inpainting.
- ``flux``: FLUX.1 layout (``FluxPipeline``: CLIP and T5 text encoders, a flow-matching
  transformer), text-to-image.
- ``ltx``: LTX-Video layout (``LTXPipeline``); ``LTXImageToVideoPipeline`` loads the same folder.
- ``audio``: Stable Audio Open layout (``StableAudioPipeline``), text-to-audio.
- ``gpt2``: a GPT-2 causal language model with a chat template (transformers), text-generation.
- ``sd15``: not built by default. Stable Diffusion 1.5's real sizes (about 1.07 billion random
  weights, 4.3 GB) for GPU benchmarks: the work per step of the real model without its weights.

Tokenizers are trained here on a small built-in word list, so nothing is downloaded. Every
component is built right after ``torch.manual_seed(seed)``: one seed gives the same bytes, and a
component's weights do not depend on what was built before it.

torch, diffusers and transformers are imported inside the functions: the CLI imports this module
to list the kinds without paying for them.
"""

from __future__ import annotations

import shutil
import string
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

T = TypeVar("T")

TEXT_TO_IMAGE = "text-to-image"
IMAGE_TO_IMAGE = "image-to-image"
INPAINTING = "inpainting"
TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
TEXT_TO_AUDIO = "text-to-audio"
TEXT_GENERATION = "text-generation"


@dataclass(frozen=True)
class Kind:
    """What a kind of tiny model is for, and which library loads it."""

    description: str
    tasks: tuple[str, ...]
    library: Literal["diffusers", "transformers"]
    default: bool = True


KINDS: dict[str, Kind] = {
    "sd": Kind(
        "Stable Diffusion 1.x layout; 64x64 by default, sides multiples of 8",
        (TEXT_TO_IMAGE, IMAGE_TO_IMAGE, INPAINTING),
        "diffusers",
    ),
    "flux": Kind(
        "FLUX.1 layout (CLIP + T5, flow matching); sides multiples of 16, 1024 by default",
        (TEXT_TO_IMAGE,),
        "diffusers",
    ),
    "ltx": Kind(
        "LTX-Video layout; sides multiples of 32, 8k+1 frames",
        (TEXT_TO_VIDEO, IMAGE_TO_VIDEO),
        "diffusers",
    ),
    "audio": Kind(
        "Stable Audio Open layout; 16 kHz stereo, up to 1.024 s", (TEXT_TO_AUDIO,), "diffusers"
    ),
    "gpt2": Kind(
        "GPT-2 causal language model with a chat template", (TEXT_GENERATION,), "transformers"
    ),
    "sd15": Kind(
        "Stable Diffusion 1.5 at its real sizes (1.07 B random weights, 4.3 GB), 512x512 images",
        (TEXT_TO_IMAGE, IMAGE_TO_IMAGE, INPAINTING),
        "diffusers",
        default=False,
    ),
}


def make_tiny(
    directory: Path, kinds: Iterable[str] | None = None, *, seed: int = 0
) -> dict[str, Path]:
    """Build each kind (default: the default kinds) into ``directory / kind``; kind -> folder.

    A kind's folder is replaced as a whole, so a build that fails half-way leaves no folder that
    looks complete.
    """
    names = default_kinds() if kinds is None else list(dict.fromkeys(kinds))
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise ValueError(
            f"unknown tiny model kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {name: _build_into(directory, name, seed) for name in names}


def default_kinds() -> list[str]:
    return [name for name, kind in KINDS.items() if kind.default]


def _build_into(directory: Path, name: str, seed: int) -> Path:
    import torch

    final = directory / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory))
    try:
        # Building reseeds the global generator; the caller's random state is not ours to change.
        with torch.random.fork_rng(devices=[]):
            parts = _BUILDERS[name](seed)
        for part in parts:
            part.save_pretrained(staging)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _seeded(seed: int, make: Callable[[], T]) -> T:
    import torch

    torch.manual_seed(seed)
    return make()


# --- tokenizers -----------------------------------------------------------------------------

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


# --- Stable Diffusion -----------------------------------------------------------------------


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
            text_encoder=_clip_text_config(
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
        text_encoder=_clip_text_config(
            vocab_size=TINY_VOCAB, hidden=32, layers=2, heads=4, intermediate=64
        ),
    )


def _clip_text_config(
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


def _clip_text_encoder(config: dict[str, Any], seed: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return _seeded(seed, lambda: CLIPTextModel(CLIPTextConfig(**config)))


def _build_sd(seed: int, kind: Literal["sd", "sd15"]) -> list[Any]:
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    configs = sd_configs(kind)
    pipe = StableDiffusionPipeline(
        vae=_seeded(seed, lambda: AutoencoderKL(**configs.vae)),
        text_encoder=_clip_text_encoder(configs.text_encoder, seed),
        tokenizer=clip_tokenizer(),
        unet=_seeded(seed, lambda: UNet2DConditionModel(**configs.unet)),
        scheduler=DDIMScheduler(**configs.scheduler),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return [pipe]


# --- FLUX, LTX-Video and Stable Audio -------------------------------------------------------


def _t5_encoder(seed: int) -> Any:
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
    return _seeded(seed, lambda: T5EncoderModel(config))


def _build_flux(seed: int) -> list[Any]:
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )

    clip = sd_configs("sd").text_encoder
    pipe = FluxPipeline(
        # FLUX packs 2x2 latent patches into one token, so the transformer sees 4x the VAE's
        # latent channels and a picture side must be a multiple of 16.
        transformer=_seeded(
            seed,
            lambda: FluxTransformer2DModel(
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
        ),
        vae=_seeded(
            seed,
            lambda: AutoencoderKL(
                sample_size=64,
                block_out_channels=(8, 16, 16, 16),
                layers_per_block=1,
                norm_num_groups=4,
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
                latent_channels=4,
                use_quant_conv=False,
                use_post_quant_conv=False,
                scaling_factor=0.3611,
                shift_factor=0.1159,
            ),
        ),
        text_encoder=_clip_text_encoder(clip, seed),
        tokenizer=clip_tokenizer(),
        text_encoder_2=_t5_encoder(seed),
        tokenizer_2=t5_tokenizer(512),
        # FLUX.1 [schnell]'s scheduler: a fixed shift, whatever the picture size.
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False),
    )
    return [pipe]


def _build_ltx(seed: int) -> list[Any]:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    pipe = LTXPipeline(
        transformer=_seeded(
            seed,
            lambda: LTXVideoTransformer3DModel(
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
        ),
        # LTX-Video's real compression (32x in space, 8x in time) from a 4x4 patch and three
        # scaling levels: sides must be multiples of 32 and frame counts 8k+1, as for the real
        # model.
        vae=_seeded(
            seed,
            lambda: AutoencoderKLLTXVideo(
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
        ),
        text_encoder=_t5_encoder(seed),
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


def _build_audio(seed: int) -> list[Any]:
    from diffusers import (
        EDMDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )

    pipe = StableAudioPipeline(
        vae=_seeded(seed, _oobleck),
        text_encoder=_t5_encoder(seed),
        # The text encoder's width (32): the projection passes the text through unchanged.
        projection_model=_seeded(
            seed,
            lambda: StableAudioProjectionModel(
                text_encoder_dim=32, conditioning_dim=32, min_value=0, max_value=512
            ),
        ),
        tokenizer=t5_tokenizer(128),
        transformer=_seeded(
            seed,
            lambda: StableAudioDiTModel(
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


# --- GPT-2 ----------------------------------------------------------------------------------


def _build_gpt2(seed: int) -> list[Any]:
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
    model = _seeded(seed, lambda: GPT2LMHeadModel(config))
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


# Each builder returns what goes into the kind's folder: a pipeline, or a model and its tokenizer.
_BUILDERS: dict[str, Callable[[int], list[Any]]] = {
    "sd": lambda seed: _build_sd(seed, "sd"),
    "flux": _build_flux,
    "ltx": _build_ltx,
    "audio": _build_audio,
    "gpt2": _build_gpt2,
    "sd15": lambda seed: _build_sd(seed, "sd15"),
}
