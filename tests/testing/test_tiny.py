"""Tiny random-weight pipelines: built once, loaded offline with ``from_pretrained``, run small."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import numpy as np
import torch
from PIL import Image

from genq.testing import tiny

STEPS = 2
TASKS = {
    "text-to-image",
    "image-to-image",
    "inpainting",
    "text-to-video",
    "image-to-video",
    "text-to-audio",
    "text-generation",
    "automatic-speech-recognition",
    "image-to-text",
    "text-to-speech",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, offline: None) -> dict[str, Path]:
    return tiny.make_tiny(tmp_path_factory.mktemp("tiny"))


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _quiet(pipe: Any) -> Any:
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _picture(size: int = 64) -> Image.Image:
    return Image.fromarray(
        np.linspace(0, 255, size * size * 3).reshape(size, size, 3).astype("uint8")
    )


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- the builder ----------------------------------------------------------------------------


def test_kinds() -> None:
    """Every kind names its tasks, all of them runtime tasks, and its library."""
    assert set(tiny.KINDS) == {
        "sd",
        "flux",
        "ltx",
        "audio",
        "gpt2",
        "whisper",
        "caption",
        "tts",
        "sd15",
    }
    assert tiny.default_kinds() == [
        "sd",
        "flux",
        "ltx",
        "audio",
        "gpt2",
        "whisper",
        "caption",
        "tts",
    ]
    for kind in tiny.KINDS.values():
        assert kind.tasks
        assert set(kind.tasks) <= TASKS
        assert kind.library in ("diffusers", "transformers")


def test_unknown_kind_names_the_known_ones(tmp_path: Path) -> None:
    """An unknown kind is refused, naming the known ones, before anything is written."""
    with pytest.raises(ValueError, match=r"unknown tiny model kind.*nope.*known: sd, flux"):
        tiny.make_tiny(tmp_path, ["sd", "nope"])
    assert list(tmp_path.iterdir()) == []


def test_import_does_not_import_torch() -> None:
    """Importing the builder loads neither torch nor diffusers (the CLI lists kinds cheaply)."""
    code = "import sys, genq.testing.tiny; print(sorted({'torch', 'diffusers'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_same_seed_same_bytes(models: dict[str, Path], tmp_path: Path) -> None:
    """The same seed writes byte-identical folders; another seed other weights."""
    again = tiny.make_tiny(tmp_path / "again", seed=0)
    other = tiny.make_tiny(tmp_path / "other", ["sd"], seed=1)
    for kind, folder in models.items():
        assert _digests(again[kind]) == _digests(folder), kind
    weights = "unet/diffusion_pytorch_model.safetensors"
    assert _digests(other["sd"])[weights] != _digests(models["sd"])[weights]


def test_rebuild_replaces_the_folder(tmp_path: Path, offline: None) -> None:
    """Building into an existing folder replaces it: nothing of an old build is left."""
    stale = tmp_path / "gpt2" / "stale.txt"
    stale.parent.mkdir()
    stale.write_text("left over")
    built = tiny.make_tiny(tmp_path, ["gpt2"])
    assert built == {"gpt2": tmp_path / "gpt2"}
    assert not stale.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gpt2"]


def test_sd15_has_the_real_sizes() -> None:
    """The ``sd15`` configs have Stable Diffusion 1.5's published parameter counts."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    configs = tiny.sd_configs("sd15")
    # Shapes without storage: the sizes of a 1 B-weight model in milliseconds.
    with torch.device("meta"):
        unet: Any = UNet2DConditionModel(**configs.unet)
        vae: Any = AutoencoderKL(**configs.vae)
        text_encoder = CLIPTextModel(CLIPTextConfig(**configs.text_encoder))
    # Stable Diffusion 1.5's published sizes.
    assert unet.num_parameters() == 859_520_964
    assert vae.num_parameters() == 83_653_863
    assert text_encoder.num_parameters() == 123_060_480


# --- loading and running --------------------------------------------------------------------


def test_sd_tasks(models: dict[str, Path]) -> None:
    """The tiny SD folder loads as text-to-image, image-to-image and inpainting pipelines,
    each making pictures of the asked size."""
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
    )

    folder = models["sd"]
    text = _quiet(AutoPipelineForText2Image.from_pretrained(folder))
    assert type(text).__name__ == "StableDiffusionPipeline"
    assert len(text.tokenizer) <= text.text_encoder.config.vocab_size
    (image,) = text("a red cat", num_inference_steps=STEPS, generator=_generator(0)).images
    assert image.size == (64, 64)
    (small,) = text("a red cat", height=32, width=48, num_inference_steps=STEPS).images
    assert small.size == (48, 32)

    image_to_image = _quiet(AutoPipelineForImage2Image.from_pretrained(folder))
    assert type(image_to_image).__name__ == "StableDiffusionImg2ImgPipeline"
    (image,) = image_to_image(
        "a red cat", image=_picture(), strength=0.5, num_inference_steps=STEPS
    ).images
    assert image.size == (64, 64)

    inpainting = _quiet(AutoPipelineForInpainting.from_pretrained(folder))
    assert type(inpainting).__name__ == "StableDiffusionInpaintPipeline"
    mask = Image.new("L", (64, 64))
    mask.paste(255, (16, 16, 48, 48))
    (image,) = inpainting(
        "a red cat", image=_picture(), mask_image=mask, num_inference_steps=STEPS
    ).images
    assert image.size == (64, 64)


def test_sd_batch_matches_one_by_one(models: dict[str, Path]) -> None:
    """A batch of two prompts gives the pictures the same prompts give one by one."""
    from diffusers import AutoPipelineForText2Image

    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(models["sd"]))
    prompts = ["a red cat", "a blue dog at night"]

    def run(prompts: list[str], seeds: list[int]) -> np.ndarray:
        images = pipe(
            prompts,
            generator=[_generator(seed) for seed in seeds],
            num_inference_steps=4,
            output_type="np",
        ).images
        return np.asarray((images * 255).round(), dtype=np.int16)

    batch = run(prompts, [1, 2])
    alone = np.concatenate([run(prompts[:1], [1]), run(prompts[1:], [2])])
    assert batch.shape == alone.shape == (2, 64, 64, 3)
    assert np.abs(batch - alone).max() <= 2
    # Different prompts and seeds do give different pictures.
    assert np.abs(batch[0] - batch[1]).max() > 50


def test_flux_text_to_image(models: dict[str, Path]) -> None:
    """The tiny Flux folder loads as a FluxPipeline and makes a picture of the asked size."""
    from diffusers import AutoPipelineForText2Image

    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(models["flux"]))
    assert type(pipe).__name__ == "FluxPipeline"
    (image,) = pipe(
        "a red cat",
        height=64,
        width=48,
        num_inference_steps=STEPS,
        max_sequence_length=32,
        generator=_generator(0),
    ).images
    assert image.size == (48, 64)


def test_ltx_text_and_image_to_video(models: dict[str, Path]) -> None:
    """The tiny LTX folder makes videos from text and from an image, of the asked size and
    frame count."""
    from diffusers import LTXImageToVideoPipeline, LTXPipeline

    text = _quiet(LTXPipeline.from_pretrained(models["ltx"]))
    (video,) = text(
        "a red cat",
        height=64,
        width=96,
        num_frames=9,
        frame_rate=24,
        num_inference_steps=STEPS,
        generator=_generator(0),
    ).frames
    assert len(video) == 9
    assert video[0].size == (96, 64)

    image = _quiet(LTXImageToVideoPipeline.from_pretrained(models["ltx"]))
    frames = image(
        image=_picture(),
        prompt="a red cat",
        height=64,
        width=64,
        num_frames=17,
        num_inference_steps=STEPS,
        output_type="np",
    ).frames
    assert frames.shape == (1, 17, 64, 64, 3)


# diffusers builds Stable Audio's VAE with torch's deprecated weight_norm.
@pytest.mark.filterwarnings(f"ignore:{tiny.OOBLECK_WARNING}:FutureWarning")
def test_audio_text_to_audio(models: dict[str, Path]) -> None:
    """The tiny Stable Audio folder makes finite stereo samples of the asked length."""
    from diffusers import StableAudioPipeline

    pipe = _quiet(StableAudioPipeline.from_pretrained(models["audio"]))
    assert pipe.vae.sampling_rate == tiny.AUDIO_SAMPLING_RATE
    audios = pipe(
        "rain on a window",
        audio_end_in_s=0.5,
        num_inference_steps=STEPS,
        generator=_generator(0),
    ).audios
    assert isinstance(audios, torch.Tensor)
    assert audios.shape == (1, 2, tiny.AUDIO_SAMPLING_RATE // 2)
    assert torch.isfinite(audios).all()


def test_gpt2_chat(models: dict[str, Path]) -> None:
    """The tiny GPT-2 folder has a chat template and generates the asked number of tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(models["gpt2"])
    tokenizer = AutoTokenizer.from_pretrained(models["gpt2"])
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert len(tokenizer) <= model.config.vocab_size
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello world"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert prompt == "<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n"
    inputs = tokenizer(prompt, return_tensors="pt")
    assert "<|im_start|>" in tokenizer.convert_ids_to_tokens(inputs.input_ids[0].tolist())
    output = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    assert output.shape == (1, inputs.input_ids.shape[1] + 8)
    assert isinstance(tokenizer.decode(output[0], skip_special_tokens=True), str)
