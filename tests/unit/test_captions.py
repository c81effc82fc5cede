"""Captions for the spoken summary: sentence cues, timed by the synthesizer or by word count."""

from __future__ import annotations

import pytest

from shared.captions import Cue, cues, sentences, webvtt

TEXT = "Errand fixed the parser. It added two tests! Does it pass? Yes, all tests pass."


def test_sentences() -> None:
    assert sentences(TEXT) == [
        "Errand fixed the parser.",
        "It added two tests!",
        "Does it pass?",
        "Yes, all tests pass.",
    ]
    assert sentences("  ") == []
    assert sentences("no end mark") == ["no end mark"]


def test_synthesizer_timings_are_used_when_they_match() -> None:
    got = cues(TEXT, 10.0, [4.0, 2.0, 1.5, 2.5])
    assert [(c.start_s, c.end_s) for c in got] == [(0, 4), (4, 6), (6, 7.5), (7.5, 10)]


def test_proportional_to_words_otherwise() -> None:
    got = cues(TEXT, 13.0, [1.0, 2.0])  # the engine split differently: its timings are unusable
    # 4, 4, 3 and 4 words of 15 → 13 s shared out
    assert [c.end_s for c in got] == pytest.approx(
        [13 * 4 / 15, 13 * 8 / 15, 13 * 11 / 15, 13], abs=1e-3
    )
    assert got[0].start_s == 0 and got[1].start_s == got[0].end_s


def test_cues_never_run_past_the_audio() -> None:
    got = cues("One. Two.", 1.0, [0.8, 0.8])
    assert got[-1].end_s == 1.0


def test_webvtt_format() -> None:
    vtt = webvtt([Cue(start_s=0, end_s=3661.5, text="a --> b\n\nc")])
    assert vtt == "WEBVTT\n\n1\n00:00:00.000 --> 01:01:01.500\na -> b c\n"
    assert webvtt([]) == "WEBVTT\n\n"
