# Run interface for Cog ⚙️
# https://cog.run/python
#
# A streaming text model: it yields the words of its prompt one at a time. genq serves this
# folder unchanged, streaming each word as it comes:
#
#     [models.words]
#     runtime = "cog"
#     path = "examples/cog/words"

import time

from cog import BaseRunner, ConcatenateIterator, Input


class Runner(BaseRunner):
    def run(
        self,
        prompt: str = Input(description="Text to stream back, word by word", min_length=1),
        delay_ms: int = Input(description="Pause before each word", default=0, ge=0, le=1000),
        upper: bool = Input(description="Shout the words", default=False),
    ) -> ConcatenateIterator[str]:
        """Yield each word of the prompt, with the space that follows it"""
        words = prompt.split()
        for index, word in enumerate(words):
            time.sleep(delay_ms / 1000)
            yield (word.upper() if upper else word) + (" " if index < len(words) - 1 else "")
