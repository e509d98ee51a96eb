"""A transcript's files: its text, and with timestamps its segments as JSON and as SRT and
WebVTT subtitles (written with pysubs2)."""

from __future__ import annotations

import html
import json
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


def write_transcripts(
    ctx: RunContext, text: str, segments: list[Segment] | None, seconds: float
) -> None:
    """Add ``transcript.txt`` (carrying the sound's duration, which per-second prices count)
    and, with ``segments``, ``segments.json``, ``transcript.srt`` and ``transcript.vtt``."""
    import pysubs2

    path = ctx.work_dir / "transcript.txt"
    path.write_text(text, encoding="utf-8")
    ctx.add_output(path, "text/plain; charset=utf-8", duration=seconds)
    if segments is None:
        return
    listed = [_rounded(segment) for segment in segments]
    path = ctx.work_dir / "segments.json"
    path.write_text(json.dumps(listed, ensure_ascii=False, indent=1), encoding="utf-8")
    ctx.add_output(path, "application/json")
    for fmt, content_type in (("srt", "application/x-subrip"), ("vtt", "text/vtt")):
        subtitles = pysubs2.SSAFile()
        for segment in segments:
            subtitles.append(
                pysubs2.SSAEvent(
                    start=pysubs2.make_time(s=segment.start),
                    end=pysubs2.make_time(s=segment.end),
                    text=_cue_text(segment.text, fmt),
                )
            )
        path = ctx.work_dir / f"transcript.{fmt}"
        path.write_text(subtitles.to_string(fmt), encoding="utf-8")
        ctx.add_output(path, content_type)


def _cue_text(text: str, fmt: str) -> str:
    """``text`` as a subtitle shows it. pysubs2 holds text as SubStation Alpha does, where
    braces open style overrides (dropped when it writes SRT or WebVTT): they become
    parentheses. WebVTT cue text may not hold a bare ``<`` or ``&``: they are escaped."""
    text = text.replace("{", "(").replace("}", ")")
    if fmt == "vtt":
        text = html.escape(text, quote=False)
    return text


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
