"""Where sentences end: text to speech speaks one sentence at a time (reporting progress and
checking for a stop between them), and a transcript's timed words become subtitles that end
with their sentences."""

from __future__ import annotations

import re

# . ! ? and their CJK forms (full stop, exclamation and question marks), which need no space
# after them.
_LATIN_ENDS = ".!?"
_CJK_ENDS = "\u3002\uff01\uff1f"
_SPLIT = re.compile(rf"(?<=[{_LATIN_ENDS}])\s+|(?<=[{_CJK_ENDS}])\s*|\s*\n\s*")
# A word that ends a sentence, closing quotes and brackets allowed after the mark.
_ENDS = re.compile(rf"[{_LATIN_ENDS}{_CJK_ENDS}]['\")\]\u201d\u2019]*$")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, without empty ones; a line break ends one too."""
    return [part for part in _SPLIT.split(text.replace("\0", " ")) if part.strip()]


def ends_sentence(word: str) -> bool:
    """Whether ``word`` (a transcript's word, spaces around it or not) ends a sentence."""
    return _ENDS.search(word.strip()) is not None
