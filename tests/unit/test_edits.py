"""SEARCH/REPLACE edits, tested on strings."""

from __future__ import annotations

import time

import pytest

from jobs.agent.edits import (
    EditBlock,
    EditError,
    apply_block,
    apply_edit,
    closest_match,
    newline_of,
    numbered,
    reindent,
    split_lines,
    unwrap,
)
from shared.errors import InvalidInput

PY = """\
import os


class Greeter:
    def __init__(self, name):
        self.name = name

    def greet(self):
        if self.name:
            return "hello " + self.name
        return "hello"
"""

# ---------------------------------------------------------------------------- exact


def test_exact_single_line_replaces_a_substring() -> None:
    applied = apply_edit(PY, '"hello"', '"hi"')
    assert applied.content == PY.replace('return "hello"\n', 'return "hi"\n')
    assert (applied.start_line, applied.end_line, applied.tolerant) == (11, 11, False)


def test_exact_multi_line() -> None:
    search = '        if self.name:\n            return "hello " + self.name\n'
    replace = '        if self.name:\n            return f"hello {self.name}"\n'
    applied = apply_edit(PY, search, replace)
    assert 'return f"hello {self.name}"\n        return "hello"\n' in applied.content
    assert (applied.start_line, applied.end_line) == (9, 10)
    assert not applied.tolerant


def test_replacement_without_final_newline_does_not_join_the_next_line() -> None:
    applied = apply_edit("a = 1\nb = 2\n", "a = 1\n", "a = 10")
    assert applied.content == "a = 10\nb = 2\n"


def test_deleting_lines() -> None:
    assert apply_edit("a\nb\nc\n", "b\n", "").content == "a\nc\n"


def test_replacement_can_add_lines() -> None:
    applied = apply_edit("a\nb\nc\n", "b\n", "b1\nb2\nb3\n")
    assert applied.content == "a\nb1\nb2\nb3\nc\n"
    assert (applied.start_line, applied.end_line) == (2, 4)


def test_ambiguous_exact_match_asks_for_more_context() -> None:
    content = "x = 1\ny = 2\nx = 1\n"
    with pytest.raises(EditError) as caught:
        apply_edit(content, "x = 1", "x = 3")
    assert caught.value.matches == (1, 3)
    assert caught.value.line == 1
    assert "2 places" in caught.value.message
    assert "more of the surrounding lines" in caught.value.message
    assert isinstance(caught.value, InvalidInput)


def test_overlapping_occurrences_count_as_ambiguous() -> None:
    with pytest.raises(EditError) as caught:
        apply_edit("aaa\n", "aa", "b")
    assert len(caught.value.matches) == 2


def test_multi_line_search_does_not_match_from_the_middle_of_a_line() -> None:
    # "x = 1\ny = 2" is a substring of "max = 1\ny = 2", but not the same lines.
    with pytest.raises(EditError):
        apply_edit("max = 1\ny = 2\n", "x = 1\ny = 2\n", "x = 3\ny = 4\n")


# ---------------------------------------------------------------------------- tolerant


def test_search_with_less_indentation_is_matched_and_replacement_reindented() -> None:
    search = 'if self.name:\n    return "hello " + self.name\n'
    replace = 'if self.name:\n    greeting = "hello " + self.name\n    return greeting\n'
    applied = apply_edit(PY, search, replace)
    assert applied.tolerant
    assert (
        "        if self.name:\n"
        '            greeting = "hello " + self.name\n'
        "            return greeting\n"
        '        return "hello"\n'
    ) in applied.content
    assert (applied.start_line, applied.end_line) == (9, 11)


def test_search_with_more_indentation_is_matched_and_replacement_dedented() -> None:
    content = "def f():\n    return 1\n"
    applied = apply_edit(content, "        def f():\n            return 1\n", "        def f():\n")
    assert applied.content == "def f():\n"


def test_trailing_spaces_in_the_file_are_ignored() -> None:
    content = "a = 1   \nb = 2\t\nc = 3\n"
    applied = apply_edit(content, "a = 1\nb = 2\n", "a = 10\nb = 20\n")
    assert applied.content == "a = 10\nb = 20\nc = 3\n"
    assert applied.tolerant


def test_tabs_in_the_file_and_spaces_in_the_search() -> None:
    content = "func f() {\n\tif x {\n\t\treturn 1\n\t}\n}\n"
    search = "    if x {\n        return 1\n    }\n"
    replace = "    if x {\n        y := 2\n        return y\n    }\n"
    applied = apply_edit(content, search, replace)
    assert applied.content == "func f() {\n\tif x {\n\t\ty := 2\n\t\treturn y\n\t}\n}\n"


def test_one_line_found_without_its_indentation_indents_the_replacement() -> None:
    content = "def f():\n    return 1\n"
    applied = apply_edit(content, "return 1", "if x:\n    return 2\nreturn 1")
    assert applied.content == "def f():\n    if x:\n        return 2\n    return 1\n"
    assert applied.tolerant
    same_line = apply_edit(content, "return 1", "return 2")  # nothing to re-indent
    assert (same_line.content, same_line.tolerant) == ("def f():\n    return 2\n", False)
    # Several lines found exactly show how the model writes indentation: taken as written.
    nested = "class A:\n    def f():\n        return 1\n"
    multi = apply_edit(nested, "def f():\n        return 1", "def g():\n        return 2")
    assert multi.content == "class A:\n    def g():\n        return 2\n"


def test_ambiguous_tolerant_match_is_refused() -> None:
    content = "  x = 1\n  y = 2\n    x = 1\n    y = 2\n"
    with pytest.raises(EditError) as caught:
        apply_edit(content, "x = 1\ny = 2\n", "z = 0\n")
    assert caught.value.matches == (1, 3)


def test_blank_lines_around_the_search_are_tolerated() -> None:
    content = "a\nb\nc\n"
    applied = apply_edit(content, "\nb\n\n", "\nB\n\n")
    assert applied.content == "a\nB\nc\n"


def test_crlf_file_keeps_its_line_endings() -> None:
    content = "one\r\ntwo\r\nthree\r\n"
    applied = apply_edit(content, "two\nthree\n", "2\n2.5\nthree\n")
    assert applied.content == "one\r\n2\r\n2.5\r\nthree\r\n"


def test_crlf_file_single_line_exact_edit_gets_crlf_in_the_replacement() -> None:
    applied = apply_edit("one\r\ntwo\r\n", "two", "2a\n2b")
    assert applied.content == "one\r\n2a\r\n2b\r\n"
    assert not applied.tolerant


def test_file_without_final_newline_stays_so() -> None:
    applied = apply_edit("first\nlast", "last\n", "final\n")
    assert applied.content == "first\nfinal"


def test_unicode_content_and_line_numbers() -> None:
    content = "# café ☕\nname = 'Zoë'\nemoji = '🎉'\n"
    applied = apply_edit(content, "emoji = '🎉'", "emoji = '🚀'")
    assert applied.content == "# café ☕\nname = 'Zoë'\nemoji = '🚀'\n"
    assert applied.start_line == 3


def test_form_feed_and_unicode_separators_are_not_line_breaks() -> None:
    content = "a = 1\n\x0c\nb = 'x\u2028y'\nc = 3\n"
    applied = apply_edit(content, "  c = 3\n", "  c = 4\n")
    assert applied.content == "a = 1\n\x0c\nb = 'x\u2028y'\nc = 4\n"
    assert applied.start_line == 4


def test_empty_search_fills_an_empty_file_only() -> None:
    assert apply_edit("", "", "x = 1\n").content == "x = 1\n"
    with pytest.raises(EditError, match="search text is empty"):
        apply_edit("x = 1\n", "  \n", "y")


# ---------------------------------------------------------------------------- not found


def test_not_found_shows_the_closest_lines_with_their_numbers() -> None:
    search = 'if self.nam:\n    return "hallo " + self.name\n'
    with pytest.raises(EditError) as caught:
        apply_edit(PY, search, "x\n")
    error = caught.value
    assert error.line == 9
    assert "lines 9-10" in error.message
    assert error.closest == (
        ' 9 |         if self.name:\n10 |             return "hello " + self.name\n'
    )
    assert error.closest in error.message
    assert "% similar" in error.message


def test_not_found_and_nothing_similar() -> None:
    with pytest.raises(EditError) as caught:
        apply_edit(PY, "completely unrelated text\n", "x\n")
    assert caught.value.closest == ""
    assert caught.value.line is None
    assert "nothing in the file is similar" in caught.value.message


def test_closest_match_in_a_long_file_is_fast_and_right() -> None:
    lines = [f"value_{i} = compute({i}, 'item {i}')\n" for i in range(20_000)]
    target = ["value_12345 = compute(12345, 'item 12346')"]
    started = time.monotonic()
    best = closest_match(lines, target)
    assert best is not None
    assert best.start == 12345
    assert time.monotonic() - started < 5


def test_closest_match_of_a_target_longer_than_the_file() -> None:
    best = closest_match(["a = 1\n"], ["a = 1", "b = 2"])
    assert best is not None and best.start == 0
    assert closest_match(["a = 1\n"], ["a = 1", "b = 2", "c = 3", "d = 4"]) is None


# ---------------------------------------------------------------------------- helpers


def test_reindent_by_an_added_prefix_a_removed_prefix_and_a_mapping() -> None:
    assert reindent(["x", "  y", ""], [("", "    "), ("  ", "      ")]) == [
        "    x",
        "      y",
        "",
    ]
    assert reindent(["    x", "      y", "z"], [("    ", ""), ("      ", "  ")]) == [
        "x",
        "  y",
        "z",
    ]
    assert reindent(["  a", "    b", "      c"], [("  ", "\t"), ("    ", "\t\t")]) == [
        "\ta",
        "\t\tb",
        "\t\t  c",
    ]


def test_split_lines_newline_of_and_numbered() -> None:
    assert split_lines("a\nb") == ["a\n", "b"]
    assert split_lines("a\r\nb\r\n") == ["a\r\n", "b\r\n"]
    assert split_lines("") == []
    assert newline_of("a\r\nb\r\nc\n") == "\r\n"
    assert newline_of("a\nb\nc\r\n") == "\n"
    assert numbered(["x\n", "y"], 9) == " 9 | x\n10 | y\n"


# ---------------------------------------------------------------------------- Aider's apply cases
# Ported from Aider's tests/basic/test_editblock.py (replace_most_similar_chunk).


def test_aider_missing_varied_leading_whitespace() -> None:
    whole = "\n    line1\n    line2\n        line3\n    line4\n"
    applied = apply_edit(whole, "line2\n    line3\n", "new_line2\n    new_line3\n")
    assert applied.content == "\n    line1\n    new_line2\n        new_line3\n    line4\n"


def test_aider_missing_leading_whitespace() -> None:
    applied = apply_edit(
        "    line1\n    line2\n    line3\n", "line1\nline2\n", "new_line1\nnew_line2\n"
    )
    assert applied.content == "    new_line1\n    new_line2\n    line3\n"


def test_aider_just_some_missing_leading_whitespace() -> None:
    applied = apply_edit(
        "    line1\n    line2\n    line3\n", " line1\n line2\n", " new_line1\n     new_line2\n"
    )
    assert applied.content == "    new_line1\n        new_line2\n    line3\n"


def test_aider_missing_leading_whitespace_including_a_blank_line() -> None:
    applied = apply_edit(
        "    line1\n    line2\n    line3\n", "\n  line1\n  line2\n", "  new_line1\n  new_line2\n"
    )
    assert applied.content == "    new_line1\n    new_line2\n    line3\n"


def test_aider_multiple_matches_are_refused_where_aider_takes_the_first() -> None:
    # A deliberate difference: Aider replaces the first occurrence; editing the wrong one
    # silently is worse than asking the model for one more line of context.
    for whole, part in (
        ("line1\nline2\nline1\nline3\n", "line1\n"),
        ("    line1\n    line2\n    line1\n    line3\n", "line1\n"),
    ):
        with pytest.raises(EditError) as caught:
            apply_edit(whole, part, "new_line\n")
        assert caught.value.matches == (1, 3)


def test_aider_full_edit_and_new_file() -> None:
    assert apply_edit("one\ntwo\nthree\n", "two\n", "new\n").content == "one\nnew\nthree\n"
    assert apply_edit("", "", "creating a new file\n").content == "creating a new file\n"


# ---------------------------------------------------------------------------- wrapped sections


def test_unwrap_drops_a_fence_around_a_section_and_a_first_line_naming_the_file() -> None:
    # Aider's strip_quoted_wrapping cases
    wrapped = (
        "filename.ext\n```\nWe just want this content\nNot the filename and triple quotes\n```"
    )
    assert unwrap(wrapped, "filename.ext") == (
        "We just want this content\nNot the filename and triple quotes\n"
    )
    assert unwrap("```\nkeep\n```\n", "x.py") == "keep\n"
    assert unwrap("plain\ntext\n", "x.py") == "plain\ntext\n"
    assert unwrap("filename.ext\n", "filename.ext") == ""
    assert unwrap("Line that ends with filename.ext\nA second line", "filename.ext") == (
        "Line that ends with filename.ext\nA second line\n"
    )
    assert unwrap("~~~~python\nx\n~~~~\n", "a/b.py") == "x\n"
    assert unwrap("````\nx\n```\n", "b.py") == "````\nx\n```\n"  # closer too short


def test_apply_block_tries_a_wrapped_search_unwrapped_only_when_it_does_not_match() -> None:
    block = EditBlock("app.py", "```python\nx = 1\n```\n", "```python\nx = 2\n```\n")
    assert apply_block("x = 1\n", block).content == "x = 2\n"
    readme = "Install:\n```\npip install a\n```\n"  # fences that are the file's own
    own = EditBlock("README.md", "```\npip install a\n```\n", "```\npip install b\n```\n")
    assert apply_block(readme, own).content == "Install:\n```\npip install b\n```\n"
    with pytest.raises(EditError, match="not in the file"):
        apply_block("y = 1\n", EditBlock("app.py", "```\nzzz\n```\n", "q\n"))
