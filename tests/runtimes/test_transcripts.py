"""Segments made from timed words, and the sentence ends they and text to speech share."""

from __future__ import annotations

from genq.runtimes.sentences import ends_sentence, split_sentences
from genq.runtimes.transcripts import Word, segments_from_words


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
