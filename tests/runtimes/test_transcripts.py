"""Segments made from timed words, and the sentence ends they and text to speech share."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from genq.runtimes.sentences import ends_sentence, split_sentences
from genq.runtimes.transcripts import Segment, Word, segments_from_words, write_transcripts


def words(*timed: tuple[float, float, str]) -> list[Word]:
    return [Word(*w) for w in timed]


def test_a_segment_ends_with_its_sentence() -> None:
    """A word ending in . ! ? (or a CJK mark, a closing quote after it) closes a segment."""
    made = segments_from_words(
        words((0, 0.4, " Hello"), (0.4, 0.9, " there."), (1.0, 1.3, " How"), (1.3, 1.6, " now?"))
    )
    assert [(s.start, s.end, s.text) for s in made] == [
        (0, 0.9, "Hello there."),
        (1.0, 1.6, "How now?"),
    ]
    assert [w.word for w in made[0].words or []] == [" Hello", " there."]


def test_a_pause_or_a_long_run_of_words_starts_a_segment() -> None:
    """A second of silence between words, or 16 words without a sentence end, starts a new
    segment; words without spaces of their own (a CTC model's) are joined with one."""
    paused = segments_from_words(words((0, 0.5, "one"), (1.5, 2.0, "two")))
    assert [s.text for s in paused] == ["one", "two"]
    many = segments_from_words([Word(i, i + 0.5, "w") for i in range(20)])
    assert [len(s.words or []) for s in many] == [16, 4]
    assert many[0].text == " ".join(["w"] * 16)


def test_sentences_split_at_their_ends_and_line_breaks() -> None:
    """Text splits after . ! ? followed by a space, after CJK marks, and at line breaks."""
    assert split_sentences("Hi there. How are you?\nFine!  Ok") == [
        "Hi there.",
        "How are you?",
        "Fine!",
        "Ok",
    ]
    assert split_sentences("\u4f60\u597d\u3002\u8c22\u8c22") == [
        "\u4f60\u597d\u3002",
        "\u8c22\u8c22",
    ]
    assert split_sentences(" \n ") == []
    assert [ends_sentence(w) for w in (" end.", 'what?"', "no", "a)")] == [True, True, False, False]


class Outputs:
    """What ``write_transcripts`` needs of a job's context: a folder, and the files added."""

    def __init__(self, folder: Path) -> None:
        self.work_dir = folder
        self.files: dict[str, str] = {}

    def add_output(self, path: Path, content_type: str, **facts: Any) -> None:
        self.files[path.name] = path.read_text(encoding="utf-8")


def cue_texts(subtitles: str) -> list[str]:
    """The texts of an SRT or WebVTT file's cues, as written."""
    blocks = subtitles.split("\n\n")
    return ["\n".join(b.split("\n")[2:]).strip("\n") for b in blocks if "-->" in b]


def written(folder: Path, segments: list[Segment]) -> dict[str, str]:
    outputs = Outputs(folder)
    write_transcripts(outputs, "text", segments, 60.0)  # type: ignore[arg-type]
    return outputs.files


def test_a_segment_that_lasts_no_time_is_shown_with_a_neighbour(tmp_path: Path) -> None:
    """A segment ending where it starts (to the millisecond) is no cue of its own: its text
    joins the cue before it (the next one when it comes first), so no word is lost;
    segments.json keeps every segment as the model timed it."""
    files = written(
        tmp_path,
        [
            Segment(0, 0, "first"),
            Segment(0, 1, "one"),
            Segment(30, 30, "none"),
            Segment(31, 31.0004, "nor"),
            Segment(32, 33, "two"),
        ],
    )
    assert len(json.loads(files["segments.json"])) == 5
    for name in ("transcript.srt", "transcript.vtt"):
        assert cue_texts(files[name]) == ["first one none nor", "two"], name
        assert "00:00:32" in files[name]
        assert "00:00:30" not in files[name]


def test_segments_that_all_last_no_time_make_one_cue(tmp_path: Path) -> None:
    files = written(tmp_path, [Segment(2.909, 2.909, "a"), Segment(2.909, 2.909, "b")])
    for name in ("transcript.srt", "transcript.vtt"):
        assert cue_texts(files[name]) == ["a b"], name
    assert "00:00:02,909 --> 00:00:03,909" in files["transcript.srt"]


TEXTS = ["a {b} c", "back\\Nslash", "nbsp\\h here", "x < y & z > w", "he said --> go"]


def test_subtitle_text_is_the_transcripts_own(tmp_path: Path) -> None:
    """Braces and backslashes are letters in a transcript, not SubStation Alpha's markup:
    they come out as they are in both files. WebVTT escapes & < >; SRT, which has no escapes,
    keeps a < that would open a tag from doing so, and a blank line from ending a cue."""
    files = written(
        tmp_path, [Segment(i, i + 0.5, t) for i, t in enumerate([*TEXTS, "two\n\nlines"])]
    )
    vtt = cue_texts(files["transcript.vtt"])
    assert files["transcript.vtt"].startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:00.500\n")
    assert [html.unescape(t) for t in vtt] == [*TEXTS, "two\nlines"]
    srt = cue_texts(files["transcript.srt"])
    assert files["transcript.srt"].startswith("1\n00:00:00,000 --> 00:00:00,500\na {b} c\n")
    assert [t.replace("\u200b", "") for t in srt] == [*TEXTS, "two\nlines"]


def test_an_srt_reader_sees_no_tag_in_a_comparison(tmp_path: Path) -> None:
    """``x < y & z > w`` is read back as it is (a zero-width space after the <, which shows
    nothing): a reader of SRT drops what looks like a tag."""
    pysubs2 = pytest.importorskip("pysubs2")
    files = written(tmp_path, [Segment(0, 1, "x < y & z > w"), Segment(1, 2, "</b>a<i")])
    parsed = pysubs2.SSAFile.from_string(files["transcript.srt"])
    texts = [event.plaintext.replace("\u200b", "") for event in parsed]
    assert texts == ["x < y & z > w", "</b>a<i"]
