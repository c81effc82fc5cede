"""Cutting long output to its head and tail, tested on strings."""

from __future__ import annotations

import re

import pytest

from jobs.agent.output import head_tail

NOTE = re.compile(
    r"^\[\.\.\. (.+) \((\d+) characters\) cut from the middle of this output \.\.\.\]$"
)


def note_of(result: str) -> tuple[str, int]:
    [line] = [line for line in result.split("\n") if line.startswith("[... ")]
    match = NOTE.match(line)
    assert match is not None, line
    return match.group(1), int(match.group(2))


@pytest.mark.parametrize("text", ["", "short\n", "no newline", "x" * 100, "a\n" * 10])
def test_text_within_both_budgets_is_unchanged(text: str) -> None:
    assert head_tail(text, max_chars=100, max_lines=10) == text


def test_too_many_lines_keeps_head_and_tail_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(1, 101))
    result = head_tail(text, max_chars=10_000, max_lines=10)
    lines = result.split("\n")
    assert lines[:5] == [f"line {i}" for i in range(1, 6)]
    assert lines[6:11] == [f"line {i}" for i in range(96, 101)]
    what, chars = note_of(result)
    assert what == "90 lines"
    assert chars == sum(len(f"line {i}\n") for i in range(6, 96))


def test_too_many_characters_keeps_whole_lines_within_the_budget() -> None:
    text = "".join(f"{i:04d} " + "x" * 44 + "\n" for i in range(20))  # 20 lines of 50 chars
    result = head_tail(text, max_chars=300, max_lines=1000)
    kept = [line for line in result.split("\n") if line and not line.startswith("[...")]
    assert [line[:4] for line in kept] == ["0000", "0001", "0002", "0017", "0018", "0019"]
    what, chars = note_of(result)
    assert what == "14 lines"
    assert chars == 14 * 50
    assert len(result) - len(result.split("\n")[3]) - 1 <= 300


def test_one_huge_line_is_cut_inside_the_line() -> None:
    text = "A" * 500 + "B" * 500
    result = head_tail(text, max_chars=100, max_lines=10)
    head, _, tail = result.split("\n")
    assert head == "A" * 50
    assert tail == "B" * 50
    assert note_of(result) == ("part of 1 line", 900)


def test_a_huge_first_line_then_short_lines() -> None:
    text = "H" * 1000 + "\n" + "".join(f"t{i}\n" for i in range(5))
    result = head_tail(text, max_chars=100, max_lines=20)
    assert result.startswith("H" * 50 + "\n[... ")
    assert result.endswith("t0\nt1\nt2\nt3\nt4\n")
    assert note_of(result) == ("part of 1 line", 951)  # its newline too


def test_a_huge_last_line() -> None:
    text = "first\n" + "L" * 1000
    result = head_tail(text, max_chars=100, max_lines=20)
    assert result.startswith("first\n[... ")
    assert result.endswith("\n" + "L" * 50)
    assert note_of(result) == ("part of 1 line", 950)


def test_form_feeds_and_unicode_separators_are_not_line_breaks() -> None:
    text = "a\x0cb\u2028c\n" * 3
    assert head_tail(text, max_chars=1000, max_lines=3) == text


def test_unicode_is_counted_in_characters() -> None:
    text = "".join(f"名前{i} 🎉\n" for i in range(100))
    result = head_tail(text, max_chars=10_000, max_lines=4)
    assert result.startswith("名前0 🎉\n名前1 🎉\n[... 96 lines")
    assert result.endswith("名前98 🎉\n名前99 🎉\n")


def test_the_cut_never_loses_what_it_reports() -> None:
    text = "".join(f"{i}: " + "y" * (i % 37) + "\n" for i in range(3000))
    result = head_tail(text, max_chars=2000, max_lines=60)
    head, _, tail = result.partition("\n[... ")
    tail = tail.split("\n", 1)[1]
    _, chars = note_of(result)
    assert len(head) + 1 + len(tail) + chars == len(text)
    assert text.startswith(head + "\n") and text.endswith(tail)
    assert len(head) + len(tail) <= 2000
    assert head.count("\n") + 1 + tail.count("\n") <= 60


def test_budgets_must_be_usable() -> None:
    with pytest.raises(ValueError, match="max_chars >= 2"):
        head_tail("text", max_chars=1, max_lines=10)
