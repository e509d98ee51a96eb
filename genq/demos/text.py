"""``demo-text``: a word-level Markov chain that streams text as a language model would.

It needs no weights and no GPU: a second-order chain over a few built-in paragraphs picks one
word per token, starting from a word of the prompt that the paragraphs contain. Each word is
streamed with ``RunContext.text`` as it is chosen. Same prompt, seed and settings give the
same text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from genq.demos.inputs import input_object, prompt_property, seed_property
from genq.models.base import Model, Price, RunContext, Usage, fill_defaults
from genq.models.inputs import chosen_seed, stable_seed

CORPUS = """
A picture begins as noise. The model looks at the noise and asks what the prompt would look
like if it were hidden there, then it removes a little of the noise and looks again. After
enough steps the shapes settle, the colours find their places and the light falls where the
words said it should. A seed decides which noise the picture starts from, so the same prompt
and the same seed give the same picture every time.

Sound is made the same way, one small piece after another. A voice is a pressure wave that
rises and falls many thousand times each second, and a model that speaks must decide each of
those values in turn. Rain is a soft hiss of many small drops, wind is a slow rush that swells
and fades, and the sea is a long breath that comes and goes. A good model listens to the
prompt and chooses the colour of the noise, the height of the tones and the shape of the
silence between them.

Text grows one word at a time. The model reads the prompt, weighs every word it knows, and
picks the next one with a little chance mixed in. The temperature sets how much chance there
is. A cold model always takes the most likely word and says the same thing again and again,
while a warm model wanders and sometimes finds a better sentence. Each word is sent to the
reader as soon as it is chosen, so the text appears on the screen like a line of ink drawn by
a steady hand.

Every job waits in a queue until a worker is free. The worker loads the model, runs the job,
reports its progress step by step and writes the result to a file. If the job is no longer
wanted, the worker stops at the next step and moves on to the next job in the queue. Nothing
is lost when a worker stops, because the queue keeps every job until its result is safely
stored.

A video is a picture that moves. Each frame follows the one before it, and the model must
keep the light, the colours and the shapes steady while the waves drift across the screen. A
short clip of a few seconds holds many frames, so a video takes longer to make than a
picture, and the worker reports its progress frame by frame.

The best results come from clear prompts. A prompt that names the light, the colours and the
mood of a scene gives the model more to work with than a single word. The same is true of
sound and of text. A prompt that says what the listener should hear or what the reader should
learn leads the model to a better result, and a fixed seed makes that result easy to find
again.
"""

_WORD = re.compile(r"[a-z]+")
_SENTENCE_END = (".", "!", "?")


class MarkovChain:
    """A second-order word chain over ``text``, read as a loop so that every pair of words
    has a successor. Words keep their trailing punctuation: "light," and "light" differ."""

    def __init__(self, text: str) -> None:
        words = text.lower().split()
        count = len(words)
        pairs: dict[tuple[str, str], dict[str, int]] = {}
        singles: dict[str, dict[str, int]] = {}
        for i, word in enumerate(words):
            after, then = words[(i + 1) % count], words[(i + 2) % count]
            successors = singles.setdefault(word, {})
            successors[after] = successors.get(after, 0) + 1
            successors = pairs.setdefault((word, after), {})
            successors[then] = successors.get(then, 0) + 1
        self._pairs = {key: _choices(value) for key, value in pairs.items()}
        self._singles = {key: _choices(value) for key, value in singles.items()}
        #: Words that may start the text: those that occur without punctuation.
        self.known = frozenset(word for word in words if _WORD.fullmatch(word))
        self._openers = _choices(
            {
                words[(i + 1) % count]: 1
                for i, word in enumerate(words)
                if word.endswith(_SENTENCE_END)
            }
        )

    def start(self, prompt: str, rng: np.random.Generator, temperature: float) -> str:
        """The first word: a word of the prompt the chain knows, preferring longer ones (they
        carry the topic); without one, a word that opens a sentence."""
        known = [word for word in _WORD.findall(prompt.lower()) if word in self.known]
        candidates = [word for word in known if len(word) >= 4] or known
        if not candidates:
            return _pick(self._openers, rng, temperature)
        if temperature == 0:
            return candidates[-1]
        return candidates[int(rng.integers(len(candidates)))]

    def words(self, first: str, rng: np.random.Generator, temperature: float) -> Iterator[str]:
        """An endless stream of words beginning with ``first``."""
        previous, current = None, first
        while True:
            yield current
            if previous is None:
                following = _pick(self._singles[current], rng, temperature)
            else:
                following = _pick(self._pairs[(previous, current)], rng, temperature)
            previous, current = current, following


def _choices(counts: dict[str, int]) -> tuple[list[str], np.ndarray]:
    return list(counts), np.log(np.array(list(counts.values()), dtype=np.float64))


def _pick(
    choices: tuple[list[str], np.ndarray], rng: np.random.Generator, temperature: float
) -> str:
    words, log_counts = choices
    if temperature == 0 or len(words) == 1:
        return words[int(np.argmax(log_counts))]
    # Counts raised to 1 / temperature, in log space so that a tiny temperature cannot
    # overflow: below 1 the common successors win more often, above 1 the rare ones gain.
    weights = np.exp((log_counts - log_counts.max()) / temperature)
    return words[int(rng.choice(len(words), p=weights / weights.sum()))]


_CHAIN = MarkovChain(CORPUS)


class DemoText(Model):
    name = "demo-text"
    description = "Streams English-like text from a Markov chain (no weights, CPU only)."
    modality = "text"
    price = Price(per_job=0.0005)
    input_schema: ClassVar[dict[str, Any]] = input_object(
        "prompt",
        {
            "prompt": prompt_property(
                "What to write about; words the model knows steer the text.",
                max_length=20000,
                rows=4,
            ),
            "max_tokens": {
                "type": "integer",
                "title": "Max tokens",
                "description": "How many words to write.",
                "default": 64,
                "minimum": 1,
                "maximum": 2048,
                "x-playground": {"widget": "slider", "step": 1},
            },
            "temperature": {
                "type": "number",
                "title": "Temperature",
                "description": "Higher picks less likely words more often; 0 always picks the "
                "likeliest, so the text depends on the prompt alone.",
                "default": 1.0,
                "minimum": 0,
                "maximum": 2,
                "x-playground": {"widget": "slider", "step": 0.05},
            },
            "seed": seed_property("text"),
            "token_delay_ms": {
                "type": "integer",
                "title": "Delay per token (ms)",
                "description": "A pause after each word, to watch the text stream in.",
                "default": 0,
                "minimum": 0,
                "maximum": 1000,
                "x-playground": {"widget": "slider", "step": 10, "advanced": True},
            },
        },
    )

    def usage(self, input: dict[str, Any]) -> Usage:
        return Usage(outputs=1)

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        params = fill_defaults(self.input_schema, input)
        prompt: str = params["prompt"]
        seed = chosen_seed(params, ctx.log)
        count: int = params["max_tokens"]
        temperature = float(params["temperature"])
        delay = params["token_delay_ms"] / 1000

        rng = np.random.default_rng(stable_seed("demo-text", prompt, seed))
        words = _CHAIN.words(_CHAIN.start(prompt, rng, temperature), rng, temperature)
        pieces: list[str] = []
        sentence_start = True
        for index, word in zip(range(count), words, strict=False):
            ctx.check_stop()
            if index + 1 == count and not word.endswith("."):
                word = word.rstrip(",;:!?") + "."
            token = word.capitalize() if sentence_start else word
            if index:
                token = " " + token
            sentence_start = word.endswith(_SENTENCE_END)
            ctx.text(token)
            pieces.append(token)
            ctx.progress(index + 1, count)
            if delay and index + 1 < count:
                time.sleep(delay)

        path = ctx.work_dir / "output.txt"
        path.write_text("".join(pieces), encoding="utf-8")
        ctx.add_output(path, "text/plain; charset=utf-8")
