"""Cog predictors for genq's tests of the cog runtime (``tests/runtimes/test_cog.py``)."""

import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import ClassVar

from cog import (
    AsyncConcatenateIterator,
    BaseModel,
    BasePredictor,
    BaseRunner,
    ConcatenateIterator,
    Input,
    Path,
)
from PIL import Image


class Shout(BaseRunner):
    """Shouts its text: the newer run() interface."""

    def run(
        self,
        text: str = Input(description="What to shout", min_length=1, max_length=40),
        times: int = Input(description="How many times", default=1, ge=1, le=3),
        mark: str = Input(default="!", choices=["!", "?"]),
    ) -> str:
        print(f"shouting {text!r} {times} times")
        return " ".join([text.upper() + mark] * times)


class Squares(BasePredictor):
    """Draws squares: the older BasePredictor.predict() interface, with weights in setup."""

    def setup(self, weights: Path | None = None) -> None:
        self.weights = weights

    def predict(
        self,
        count: int = Input(description="How many squares", default=2, ge=1, le=4),
        colour: str = Input(default="#ff0000", regex=r"#[0-9a-f]{6}"),
    ) -> list[Path]:
        print(f"weights: {self.weights.name if self.weights else None}")
        folder = Path(tempfile.mkdtemp())
        squares = []
        for n in range(1, count + 1):
            # What tqdm draws on stderr as it goes.
            sys.stderr.write(f"\r{100 * n // count:3d}%|####| {n}/{count} [00:00<00:00]")
            path = folder / f"square-{n}.png"
            Image.new("RGB", (8 * n, 8 * n), colour).save(path)
            squares.append(path)
        sys.stderr.write("\n")
        return squares


class Copy(BaseRunner):
    """Gives back the file it is given: a Path input of any type."""

    def run(
        self,
        file: Path = Input(description="Any file", accept="text/*"),
        note: str | None = Input(default=None),
    ) -> Path:
        copy = Path(tempfile.mkdtemp()) / f"copy-{file.name}"
        copy.write_bytes(file.read_bytes() + (note or "").encode())
        return copy


class Ticker(BaseRunner):
    """Streams numbered tokens, slowly if asked; notes when its generator was closed."""

    closed: ClassVar[list[int]] = []

    def run(
        self,
        count: int = Input(default=3, ge=1, le=1000),
        delay_ms: int = Input(default=0, ge=0, le=1000),
    ) -> ConcatenateIterator[str]:
        sent = 0
        try:
            for n in range(count):
                time.sleep(delay_ms / 1000)
                sent += 1
                yield f"t{n} "
        finally:
            Ticker.closed.append(sent)


class Frames(BaseRunner):
    """Yields images, then nothing else: each an output as soon as it is made."""

    def run(self, count: int = Input(default=2, ge=1, le=5)) -> Iterator[Path]:
        for n in range(count):
            path = Path(tempfile.mkdtemp()) / f"frame-{n}.png"
            Image.new("L", (4 + n, 4), n * 40).save(path)
            yield path


class Counts(BaseRunner):
    """Yields JSON values."""

    def run(self, upto: int = Input(default=3, ge=1)) -> Iterator[dict]:
        for n in range(1, upto + 1):
            yield {"n": n, "square": n * n}


class Card(BaseModel):
    name: str
    letters: int
    badge: Path


class Describe(BaseRunner):
    """Returns an object with a file in it."""

    def run(self, name: str = Input(default="genq")) -> Card:
        badge = Path(tempfile.mkdtemp()) / "badge.png"
        Image.new("RGB", (len(name), 2), "blue").save(badge)
        return Card(name=name, letters=len(name), badge=badge)


class Whisper(BaseRunner):
    """An async runner that streams lower-cased words."""

    async def run(self, text: str = Input(default="A B")) -> AsyncConcatenateIterator[str]:
        for word in text.split():
            await asyncio.sleep(0)
            yield word.lower()
