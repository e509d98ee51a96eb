"""The diffusers runtime: any ``DiffusionPipeline`` from a local folder or a hub id, for text-to-
image, image-to-image, inpainting, text-to-video, image-to-video and text-to-audio.

One class serves every configured pipeline; its ``[models.NAME]`` table says where the weights
are and which task the model does (see ``DiffusersOptions``, in ``diffusion_inputs`` with the
input schema). The pipeline's call signature decides which job inputs reach it, so the same
code drives Stable Diffusion, Flux, LTX-Video, Wan, Stable Audio or AudioLDM.

Jobs with the same settings (size, steps, guidance, frames, ...) run as one batch in one
pipeline call, each with its own seed: sample ``i`` draws its starting noise from its own
generator, so it comes out as it would alone.

Reference images (the image of image-to-image and image-to-video, inpainting's image and
mask) are resized to the job's size before the pipeline sees them, so that no reference makes
a job bigger than the largest one the model allows (``max_side``). What the job leaves open,
the reference decides: without width, height or aspect ratio the result has the reference's
shape, its longer side ``default_side`` or else the reference's own, at most ``max_side``.
References with more than ``reference_max_pixels`` pixels are refused before they are
decoded (see ``genq.media.reference``).
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from genq.logs import quiet_loaded_libraries
from genq.models.base import Model, RunContext, Stopped, Usage, fill_defaults
from genq.models.inputs import default_seed, ratio_value
from genq.runtimes.device import folder_weight_bytes, module_bytes, pick_device, pick_dtype
from genq.runtimes.diffusion_inputs import MODALITY, REFERENCES, DiffusersOptions, input_schema

__all__ = ["DiffusersModel", "DiffusersOptions", "for_task", "input_schema"]

#: Inputs that differ between jobs of one batch; every other input must match.
PER_JOB = frozenset({"prompt", "negative_prompt", "seed", "output_format"})


class DiffusersModel(Model):
    description = "A diffusers pipeline."
    requires = ("torch", "diffusers", "transformers")
    extra = "diffusers"
    Options: ClassVar[type[DiffusersOptions]] = DiffusersOptions
    options: DiffusersOptions

    def __init__(self, options: DiffusersOptions | None = None) -> None:
        if options is None:
            raise TypeError("a diffusers model needs its options (source and task)")
        super().__init__(options)
        self.declare(
            task=options.task,
            modality=MODALITY[options.task],
            description=f"{options.task} with the diffusers pipeline at {options.source}",
            input_schema=input_schema(options),
        )
        self.pipe: Any = None
        self._call_params: frozenset[str] = frozenset()
        #: Seconds spent inside pipeline calls, for measuring how busy the device is.
        self.busy_seconds = 0.0

    # -- loading -------------------------------------------------------------------------
    def setup(self) -> None:
        import diffusers

        # Their progress bars and notes are no news to genq's log.
        quiet_loaded_libraries()
        o = self.options
        self.device = pick_device(o.device)
        self.dtype = pick_dtype(o.dtype, self.device)
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        for key in ("revision", "variant", "cache_dir"):
            if getattr(o, key) is not None:
                kwargs[key] = getattr(o, key)
        if o.pipeline is not None:
            cls = getattr(diffusers, o.pipeline, None)
            if cls is None:
                raise ValueError(f"diffusers has no pipeline class {o.pipeline!r}")
            pipe = cls.from_pretrained(o.source, **kwargs)
        else:
            pipe = for_task(diffusers.DiffusionPipeline.from_pretrained(o.source, **kwargs), o.task)
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self._call_params = frozenset(inspect.signature(pipe.__call__).parameters)
        missing = [name for name in REFERENCES.get(o.task, ()) if name not in self._call_params]
        if missing:
            raise ValueError(
                f"{type(pipe).__name__} takes no {', '.join(missing)}: it cannot do {o.task}"
            )
        self.pipe = pipe

    def teardown(self) -> None:
        self.pipe = None

    def memory_bytes(self) -> int:
        if self.pipe is None:
            return folder_weight_bytes(self.options.source)
        return module_bytes(list(self.pipe.components.values()))

    # -- jobs ----------------------------------------------------------------------------
    def usage(self, input: dict[str, Any]) -> Usage:
        params = fill_defaults(self.input_schema, input)
        if self.modality == "audio":
            return Usage(outputs=1, media_seconds=float(params["duration"]))
        if self.modality == "video":
            return Usage(outputs=1, media_seconds=params["num_frames"] / params["fps"])
        return Usage(outputs=int(params.get("num_images", 1)))

    def batch_key(self, input: dict[str, Any]) -> str | None:
        if self.task in REFERENCES:
            # Reference images are fetched per job and may differ in size: run alone.
            return None
        shared = {
            k: v for k, v in fill_defaults(self.input_schema, input).items() if k not in PER_JOB
        }
        return json.dumps(shared, sort_keys=True, separators=(",", ":"))

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        self.predict_batch([input], [ctx])

    def predict_batch(self, inputs: list[dict[str, Any]], ctxs: list[RunContext]) -> None:
        jobs = [
            Call(fill_defaults(self.input_schema, i), ctx)
            for i, ctx in zip(inputs, ctxs, strict=True)
        ]
        for job in jobs:
            if job.params.get("seed") is None:
                job.params["seed"] = default_seed(job.params["prompt"])
                job.ctx.log(f"seed {job.params['seed']} (from the prompt)")
        result = self._call(jobs)
        for index, job in enumerate(jobs):
            if not job.ctx.stop_requested:
                job.ctx.defer(functools.partial(self._write, job, result, index))

    def _call(self, jobs: list[Call]) -> Any:
        import torch

        params = jobs[0].params
        count = params.get("num_images", 1)
        args: dict[str, Any] = {
            "prompt": [job.params["prompt"] for job in jobs],
            "num_inference_steps": params["steps"],
            # Output i of job j starts from the noise of seed_j + i, as it would alone.
            "generator": [
                torch.Generator("cpu").manual_seed(job.params["seed"] + i)
                for job in jobs
                for i in range(count)
            ],
        }
        negatives = [job.params.get("negative_prompt") for job in jobs]
        if any(negatives):
            args["negative_prompt"] = [n or "" for n in negatives]
        if params.get("guidance") is not None:
            args["guidance_scale"] = params["guidance"]
        if self.modality == "image":
            args["num_images_per_prompt"] = count
        if self.task in REFERENCES:
            args.update(self._references(jobs))
        elif self.modality in ("image", "video"):
            args.update(self._size(params))
        if self.modality == "video":
            args["num_frames"] = params["num_frames"]
            args["frame_rate"] = params["fps"]
            args["output_type"] = "np"
        if self.modality == "audio":
            args["audio_length_in_s"] = params["duration"]
            args["audio_end_in_s"] = params["duration"]
        if "strength" in params:
            args["strength"] = params["strength"]
        args.update(self._progress_hook(jobs, params["steps"]))
        call = {k: v for k, v in args.items() if k in self._call_params}
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                return self.pipe(**call)
        finally:
            self.busy_seconds += time.perf_counter() - started

    def _references(self, jobs: list[Call]) -> dict[str, Any]:
        """The reference images of ``jobs``, fetched at the size of the first job (which its
        first reference decides where the input leaves it open), and that size."""
        size: tuple[int, int] | None = None
        args: dict[str, Any] = {}
        for name in REFERENCES[self.task]:
            images = []
            for job in jobs:
                image = job.ctx.fetch_image(
                    job.params[name], size=size or self._size_for_reference(jobs[0].params)
                )
                size = image.size
                images.append(image)
            args[name] = images if len(jobs) > 1 else images[0]
        assert size is not None
        return {**args, "width": size[0], "height": size[1]}

    def _size_for_reference(self, params: dict[str, Any]) -> Callable[[int, int], tuple[int, int]]:
        def size(width: int, height: int) -> tuple[int, int]:
            chosen = self._size(params, reference=(width, height))
            return chosen["width"], chosen["height"]

        return size

    def _size(
        self, params: dict[str, Any], reference: tuple[int, int] | None = None
    ) -> dict[str, int]:
        """Width and height of the result: the job's; a missing one from the aspect ratio (or
        the reference's shape); with neither, the longer side is ``default_side`` or the
        reference's, else the pipeline's native side when there is an aspect ratio, else the
        pipeline's own default size (``{}``). Sides the job does not give are multiples of
        ``size_multiple``, at most ``max_side``."""
        width: int | None = params.get("width")
        height: int | None = params.get("height")
        if width is not None and height is not None:
            return {"width": width, "height": height}
        aspect = params.get("aspect_ratio")
        if aspect is not None:
            ratio = ratio_value(aspect)
        elif reference is not None:
            ratio = reference[0] / reference[1]
        else:
            ratio = 1.0
        if width is not None:
            return {"width": width, "height": self._side(width / ratio)}
        if height is not None:
            return {"width": self._side(height * ratio), "height": height}
        longer = self.options.default_side or (max(reference) if reference else None)
        if longer is None:
            if aspect is None:
                return {}  # the pipeline's own default size
            longer = self._native_side()
        longer = min(longer, self.options.max_side)
        if ratio >= 1:
            return {"width": self._side(longer), "height": self._side(longer / ratio)}
        return {"width": self._side(longer * ratio), "height": self._side(longer)}

    def _side(self, value: float) -> int:
        """``value`` rounded to the nearest multiple of ``size_multiple``: at least one, at
        most ``max_side``."""
        multiple = self.options.size_multiple
        most = max(multiple, self.options.max_side // multiple * multiple)
        return min(most, max(multiple, round(value / multiple) * multiple))

    def _native_side(self) -> int:
        """The longer side the pipeline makes by default (UNet/transformer sample size times
        the VAE's scale)."""
        denoiser = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
        scale = getattr(self.pipe, "vae_scale_factor", None) or 8
        if isinstance(sample, int | float):
            return int(sample * scale)
        return 512

    def _progress_hook(self, jobs: list[Call], steps: int) -> dict[str, Any]:
        """Progress for every job at every step, and the stop check: a canceled job leaves
        the batch at once; when none is left, the call ends before decoding anything."""

        def on_step(step: int) -> None:
            total = max(getattr(self.pipe, "num_timesteps", 0) or steps, step + 1)
            live = [job for job in jobs if not job.ctx.stop_requested]
            if not live:
                raise Stopped()
            for job in live:
                job.ctx.progress(step + 1, total)

        if "callback_on_step_end" in self._call_params:

            def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
                on_step(step)
                return kwargs

            return {"callback_on_step_end": on_step_end}
        if "callback" in self._call_params:
            # Older pipelines (AudioLDM) call back with (step, timestep, latents).
            return {"callback": lambda step, *_: on_step(step), "callback_steps": 1}
        return {}

    # -- outputs -------------------------------------------------------------------------
    def _write(self, job: Call, result: Any, index: int) -> None:
        from genq.media import encode

        params, ctx = job.params, job.ctx
        if self.modality == "image":
            count = params.get("num_images", 1)
            for i, image in enumerate(result.images[index * count : (index + 1) * count]):
                written = encode.save_image(
                    image, ctx.work_dir / f"image-{i}", params["output_format"]
                )
                written.add_to(ctx)
        elif self.modality == "video":
            written = encode.write_video(
                result.frames[index], params["fps"], ctx.work_dir / "video.mp4"
            )
            written.add_to(ctx)
        else:
            audio = _to_numpy(result.audios[index])
            fmt = params["output_format"]
            written = encode.write_audio(
                audio, self._sample_rate(), ctx.work_dir / f"audio.{fmt}", fmt
            )
            written.add_to(ctx)

    def _sample_rate(self) -> int:
        if self.options.sample_rate is not None:
            return self.options.sample_rate
        for owner, attr in (("vae", "sampling_rate"), ("vocoder", "config.sampling_rate")):
            value: Any = getattr(self.pipe, owner, None)
            for part in attr.split("."):
                value = getattr(value, part, None)
            if isinstance(value, int):
                return value
        raise ValueError("the pipeline does not tell its sample rate: set sample_rate")


@dataclass
class Call:
    """One job's part of a pipeline call: its inputs, defaults filled in, and its context."""

    params: dict[str, Any]
    ctx: RunContext


def for_task(pipe: Any, task: str) -> Any:
    """The pipeline that does ``task`` with the components of ``pipe`` (loaded once)."""
    import diffusers

    if task == "image-to-image":
        return diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
    if task == "inpainting":
        return diffusers.AutoPipelineForInpainting.from_pipe(pipe)
    name = type(pipe).__name__
    if task == "image-to-video" and "ImageToVideo" not in name:
        # LTXPipeline -> LTXImageToVideoPipeline, WanPipeline -> WanImageToVideoPipeline, ...
        variant = getattr(diffusers, name.replace("Pipeline", "ImageToVideoPipeline"), None)
        if variant is None:
            raise ValueError(f"no image-to-video pipeline goes with {name}: set pipeline")
        return variant.from_pipe(pipe)
    return pipe


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().float().cpu().numpy()
    return value
