"""A transcript's files: its text, and with timestamps its segments as JSON and as SRT and
WebVTT subtitles.

The subtitles are written here rather than through a subtitle library, whose text is
SubStation Alpha's (braces, ``\\N`` and ``\\h`` there are markup, not a transcript's
letters): a cue's text is the segment's as it is, but for what the format itself reads as
markup."""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass, field

from genq.models.base import RunContext
from genq.runtimes.sentences import ends_sentence

#: A pause this long between two words starts a new segment.
_PAUSE_SECONDS = 1.0
#: Most words one subtitle shows.
_MOST_WORDS = 16


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    #: Its words, when word timestamps were asked for.
    words: list[Word] | None = field(default=None)


def segments_from_words(words: list[Word]) -> list[Segment]:
    """Segments of ``words``: each ends at a sentence's end, before a pause of a second or
    more, or after ``_MOST_WORDS`` words. The model's own segments are lost when it times
    words (transformers' pipeline returns one or the other), and a CTC model has none."""
    segments: list[Segment] = []
    current: list[Word] = []
    # Whisper's words carry the space before them (a word without one goes on the last, as
    # punctuation does); a CTC model's carry none and are joined with one.
    glue = "" if any(w.word[:1].isspace() for w in words) else " "

    def close() -> None:
        text = glue.join(w.word for w in current).strip()
        if text:
            segments.append(Segment(current[0].start, current[-1].end, text, list(current)))
        current.clear()

    for word in words:
        if current and word.start - current[-1].end >= _PAUSE_SECONDS:
            close()
        current.append(word)
        if ends_sentence(word.word) or len(current) >= _MOST_WORDS:
            close()
    close()
    return segments


#: What an SRT reader takes for the start of a tag (``<i>``, ``</font``).
_SRT_TAG = re.compile(r"<(?=\s*/?\s*[A-Za-z])")
#: A zero-width space: after a ``<`` it keeps a reader from seeing a tag, and shows nothing.
_ZERO_WIDTH = "\u200b"


def write_transcripts(
    ctx: RunContext, text: str, segments: list[Segment] | None, seconds: float
) -> None:
    """Add ``transcript.txt`` (carrying the sound's duration, which per-second prices count)
    and, with ``segments``, ``segments.json``, ``transcript.srt`` and ``transcript.vtt``. No
    text is left out of the subtitles: a segment that lasts no time is shown with a
    neighbour's cue."""
    path = ctx.work_dir / "transcript.txt"
    path.write_text(text, encoding="utf-8")
    ctx.add_output(path, "text/plain; charset=utf-8", duration=seconds)
    if segments is None:
        return
    listed = [_rounded(segment) for segment in segments]
    path = ctx.work_dir / "segments.json"
    path.write_text(json.dumps(listed, ensure_ascii=False, indent=1), encoding="utf-8")
    ctx.add_output(path, "application/json")
    cues: list[tuple[int, int, str]] = []
    # A segment that lasts no time (to the millisecond) is no cue a player shows: its text
    # joins the cue before it, or the next one when it comes first.
    held: list[str] = []
    for segment in segments:
        start, end = _milliseconds(segment.start), _milliseconds(segment.end)
        text = re.sub(r"\s*\n\s*", "\n", segment.text.strip())
        if not text:
            continue
        if end > start:
            cues.append((start, end, " ".join([*held, text])))
            held.clear()
        elif cues:
            first, last, before = cues[-1]
            cues[-1] = (first, last, f"{before} {text}")
        else:
            held.append(text)
    if held:  # every segment lasted no time: one cue of a second holds them
        start = _milliseconds(segments[0].start)
        cues.append((start, start + 1000, " ".join(held)))
    for fmt, content_type in (("srt", "application/x-subrip"), ("vtt", "text/vtt")):
        path = ctx.work_dir / f"transcript.{fmt}"
        path.write_text(_subtitles(cues, fmt), encoding="utf-8")
        ctx.add_output(path, content_type)


def _subtitles(cues: list[tuple[int, int, str]], fmt: str) -> str:
    """An SRT or WebVTT file of ``cues`` (start and end in milliseconds, text of no blank
    line). WebVTT escapes ``&``, ``<`` and ``>``; SRT has no escapes, and a ``<`` that would
    open a tag is followed by a zero-width space."""
    comma = "," if fmt == "srt" else "."
    blocks = ["WEBVTT\n"] if fmt == "vtt" else []
    for number, (start, end, text) in enumerate(cues, 1):
        shown = (
            html.escape(text, quote=False)
            if fmt == "vtt"
            else _SRT_TAG.sub("<" + _ZERO_WIDTH, text)
        )
        blocks.append(
            f"{number}\n{_timestamp(start, comma)} --> {_timestamp(end, comma)}\n{shown}\n"
        )
    return "\n".join(blocks)


def _milliseconds(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _timestamp(milliseconds: int, comma: str) -> str:
    seconds, ms = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{comma}{ms:03d}"


def _rounded(segment: Segment) -> dict[str, object]:
    """A segment as JSON, its times to the millisecond; ``words`` only when there are."""
    found = asdict(segment)
    found["start"], found["end"] = round(segment.start, 3), round(segment.end, 3)
    if segment.words is None:
        del found["words"]
    else:
        found["words"] = [
            {"start": round(w.start, 3), "end": round(w.end, 3), "word": w.word.strip()}
            for w in segment.words
        ]
    return found
