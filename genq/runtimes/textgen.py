"""The transformers runtime: text generation with a causal language model, from a prompt or
chat messages, with the text streamed to the job's event stream as it is generated."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from genq.models.base import InputError, RunContext, Stopped, fill_defaults
from genq.models.inputs import SEED_MAX, default_seed
from genq.runtimes.device import TorchOptions
from genq.runtimes.pretrained import PretrainedModel


class TextGenerationOptions(TorchOptions):
    default_max_tokens: int = Field(default=256, ge=1)
    max_tokens: int = Field(default=4096, ge=1)
    default_temperature: float = Field(default=0.7, ge=0)


class TextGenerationModel(PretrainedModel):
    description = "A transformers text generation model."
    modality = "text"
    task = "text-generation"
    Options: ClassVar[type[TextGenerationOptions]] = TextGenerationOptions
    options: TextGenerationOptions

    def __init__(self, options: TextGenerationOptions | None = None) -> None:
        super().__init__(options)
        assert options is not None
        self.declare(
            description=f"Text generation with the model at {options.source}",
            input_schema=input_schema(options),
        )
        self.tokenizer: Any = None

    def setup(self) -> None:
        import transformers

        self.prepare()
        source = self.options.source
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, **self.source_kwargs())
        model = transformers.AutoModelForCausalLM.from_pretrained(source, **self.weight_kwargs())
        self.model = model.to(self.device).eval()

    def teardown(self) -> None:
        super().teardown()
        self.tokenizer = None

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        import torch
        import transformers

        params = fill_defaults(self.input_schema, input)
        ids = self._encode(params).to(self.device)
        seed = params.get("seed")
        if seed is None:
            seed = default_seed(str(params.get("prompt") or params.get("messages")))
        torch.manual_seed(seed)
        temperature = params["temperature"]
        max_tokens = params["max_tokens"]
        streamer = job_streamer(self.tokenizer, ctx, max_tokens)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": params["top_p"]}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                streamer=streamer,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                generation_config=transformers.GenerationConfig(**sampling),
            )
        text = self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        path = ctx.work_dir / "output.txt"
        path.write_text(text, encoding="utf-8")
        ctx.add_output(path, "text/plain; charset=utf-8")

    def _encode(self, params: dict[str, Any]) -> Any:
        messages = params.get("messages")
        if messages is None:
            return self.tokenizer(params["prompt"], return_tensors="pt").input_ids
        if not getattr(self.tokenizer, "chat_template", None):
            raise InputError("this model has no chat template: send a prompt, not messages")
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]


def job_streamer(tokenizer: Any, ctx: RunContext, max_tokens: int) -> Any:
    """A streamer that hands generated text to the job as it comes (whole words, as
    transformers' text streamer cuts them), reports progress per token, and ends generation
    when the job is canceled; its ``streamed`` is all the text handed over. Defined here
    because transformers is imported late."""
    from transformers import TextStreamer

    class JobStreamer(TextStreamer):
        count = 0
        streamed = ""

        def put(self, value: Any) -> None:
            if not self.next_tokens_are_prompt:
                if ctx.stop_requested:
                    raise Stopped()
                self.count += 1
                ctx.progress(self.count, max_tokens)
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            self.streamed += text
            ctx.text(text)

    return JobStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def input_schema(o: TextGenerationOptions) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["prompt"]}, {"required": ["messages"]}],
        "properties": {
            "prompt": {"type": "string", "title": "Prompt", "minLength": 1},
            "messages": {
                "type": "array",
                "title": "Messages",
                "description": "A chat: the model answers the last message.",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "properties": {
                        "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                        "content": {"type": "string"},
                    },
                },
            },
            "max_tokens": {
                "type": "integer",
                "title": "Most new tokens",
                "default": o.default_max_tokens,
                "minimum": 1,
                "maximum": o.max_tokens,
            },
            "temperature": {
                "type": "number",
                "title": "Temperature",
                "description": "0 picks the likeliest token every time.",
                "default": o.default_temperature,
                "minimum": 0,
                "maximum": 2,
            },
            "top_p": {"type": "number", "default": 1.0, "exclusiveMinimum": 0, "maximum": 1},
            "seed": {"type": "integer", "minimum": 0, "maximum": SEED_MAX},
        },
    }
