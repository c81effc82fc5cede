"""Reading SEARCH/REPLACE blocks out of model answers, tested on strings.

The first part ports the parsing cases of Aider's public tests/basic/test_editblock.py (written
here, not copied): whatever Aider reads, we read the same way. The rest covers what we read
beyond it and how a malformed block is reported while the good ones are kept."""

from __future__ import annotations

import pytest

from jobs.agent.edit_parse import (
    BlockProblem,
    clean_name,
    name_above,
    parse_answer,
    parse_blocks,
    resolve,
)
from jobs.agent.edits import DIVIDER, REPLACE, SEARCH, EditBlock, EditError

KNOWN = ("file1.py", "file2.py", "dir/file3.py", r"\windows\__init__.py")


def found(text: str, known: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    return [(b.path, b.search, b.replace) for b in parse_blocks(text, known)]


def name_of(lines: list[str], known: tuple[str, ...] = KNOWN) -> str:
    """The name the lines above a SEARCH marker give, resolved against `known` (Aider's
    find_filename with valid_fnames)."""
    return resolve(name_above([*lines, SEARCH], len(lines)), known, new_file=False)


# ---------------------------------------------------------------------------- Aider's cases


def test_aider_find_filename() -> None:
    assert name_of(["file1.py", "```"]) == "file1.py"
    assert name_of(["```python", "file3.py", "```"]) == "dir/file3.py"  # by its base name
    assert name_of(["```", "invalid_file.py", "```"]) == "invalid_file.py"
    assert name_of(["```python", "file1.py", "```", "```", "file2.py", "```"]) == "file2.py"
    assert name_of(["# file1.py", "```"]) == "file1.py"
    assert name_of(["file1_py", "```"]) == "file1.py"  # close enough to one known file
    assert name_of([r"\windows__init__.py", "```"]) == r"\windows\__init__.py"


def test_aider_block_in_a_fence_with_the_name_inside() -> None:
    text = (
        "\nHere's the change:\n\n```text\nfoo.txt\n<<<<<<< SEARCH\nTwo\n=======\nTooooo\n"
        ">>>>>>> REPLACE\n```\n\nHope you like it!\n"
    )
    assert found(text) == [("foo.txt", "Two\n", "Tooooo\n")]


def test_aider_name_above_the_fence() -> None:
    text = (
        "\nHere's the change:\n\nfoo.txt\n```text\n<<<<<<< SEARCH\nTwo\n=======\nTooooo\n"
        ">>>>>>> REPLACE\n```\n\nHope you like it!\n"
    )
    assert found(text) == [("foo.txt", "Two\n", "Tooooo\n")]


def test_aider_unclosed_block() -> None:
    text = (
        "\nHere's the change:\n\n```text\nfoo.txt\n<<<<<<< SEARCH\nTwo\n=======\n"
        "Tooooo\n\n\noops!\n"
    )
    with pytest.raises(EditError) as caught:
        parse_blocks(text)
    assert f"is not closed: expected {REPLACE!r} (or a second {DIVIDER!r})" in caught.value.message


def test_aider_missing_filename() -> None:
    text = (
        "\nHere's the change:\n\n```text\n<<<<<<< SEARCH\nTwo\n=======\nTooooo\n\n\n"
        "oops!\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(EditError, match="names no file"):
        parse_blocks(text)


def test_aider_no_final_newline() -> None:
    text = (
        "\naider/coder.py\n<<<<<<< SEARCH\n"
        '            self.console.print("[red]^C again to quit")\n'
        '=======\n            self.io.tool_error("^C again to quit")\n>>>>>>> REPLACE\n\n'
        'aider/coder.py\n<<<<<<< SEARCH\n            self.console.print("[red]Skipped commit.")\n'
        '=======\n            self.io.tool_error("Skipped commit.")\n>>>>>>> REPLACE'
    )
    blocks = found(text)
    assert [b[0] for b in blocks] == ["aider/coder.py", "aider/coder.py"]
    assert blocks[1][2] == '            self.io.tool_error("Skipped commit.")\n'


def test_aider_second_block_without_a_name_edits_the_same_file() -> None:
    text = (
        "No problem! Here are the changes:\n\n```python\ntests/test_repomap.py\n<<<<<<< SEARCH\n"
        "    def test_a(self):\n=======\n    def test_b(self):\n>>>>>>> REPLACE\n\n"
        "<<<<<<< SEARCH\n    x = '''{\n  \"a\": 1\n}'''\n=======\n    y = 2\n>>>>>>> REPLACE\n```\n"
        "These changes replace ...\n"
    )
    blocks = found(text)
    assert [b[0] for b in blocks] == ["tests/test_repomap.py"] * 2
    assert blocks[1][1] == "    x = '''{\n  \"a\": 1\n}'''\n"


def test_aider_several_blocks_for_one_file_in_one_fence() -> None:
    text = (
        "```text\nfoo.txt\n<<<<<<< SEARCH\none\n=======\ntwo\n>>>>>>> REPLACE\n\n...\n\n"
        "<<<<<<< SEARCH\nthree\n=======\nfour\n>>>>>>> REPLACE\n```\n"
    )
    assert found(text) == [("foo.txt", "one\n", "two\n"), ("foo.txt", "three\n", "four\n")]


def test_aider_deepseek_coder_v2_filename_mangling() -> None:
    text = (
        "Here's the change:\n\n ```python\nfoo.txt\n```\n```python\n<<<<<<< SEARCH\none\n"
        "=======\ntwo\n>>>>>>> REPLACE\n```\n"
    )
    assert found(text) == [("foo.txt", "one\n", "two\n")]


def test_aider_new_file_is_not_resolved_to_a_known_one() -> None:
    text = (
        "path/to/a/file2.txt\n```python\n<<<<<<< SEARCH\n=======\nthree\n>>>>>>> REPLACE\n```\n"
        "another change\n\n"
        "path/to/a/file1.txt\n```python\n<<<<<<< SEARCH\none\n=======\ntwo\n>>>>>>> REPLACE\n```\n"
    )
    assert found(text, ("path/to/a/file1.txt",)) == [
        ("path/to/a/file2.txt", "", "three\n"),
        ("path/to/a/file1.txt", "one\n", "two\n"),
    ]


def test_aider_quad_backticks_with_a_triple_fence_inside() -> None:
    text = "foo.txt\n```text\n<<<<<<< SEARCH\n=======\nTooooo\n>>>>>>> REPLACE\n```\n"
    assert found(text) == [("foo.txt", "", "Tooooo\n")]
    quad = "foo.txt\n````\n```text\n<<<<<<< SEARCH\n=======\nTooooo\n>>>>>>> REPLACE\n```\n````\n"
    assert found(quad) == [("foo.txt", "", "Tooooo\n")]


def test_aider_shell_and_csharp_language_identifiers() -> None:
    script = (
        '#!/bin/bash\nif [ "$#" -ne 1 ]; then\n    echo "Usage: $0 <argument>" >&2\n'
        '    exit 1\nfi\n\necho "$1"\n\nexit 0\n'
    )
    text = f"A shell script:\n\n```sh\ntest_hello.sh\n{SEARCH}\n{DIVIDER}\n{script}{REPLACE}\n```\n"
    assert found(text) == [("test_hello.sh", "", script)]
    text = (
        '```csharp\nProgram.cs\n<<<<<<< SEARCH\nConsole.WriteLine("Hello World!");\n=======\n'
        'Console.WriteLine("Hello, C# World!");\n>>>>>>> REPLACE\n```\n'
    )
    assert found(text) == [
        (
            "Program.cs",
            'Console.WriteLine("Hello World!");\n',
            'Console.WriteLine("Hello, C# World!");\n',
        )
    ]


def test_aider_marker_lengths_and_a_second_divider_as_the_end() -> None:
    text = "a.py\n<<<<< SEARCH\nx\n=========\ny\n>>>>>>>>> REPLACE\n"
    assert found(text) == [("a.py", "x\n", "y\n")]
    assert found("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n=======\n") == [("a.py", "x\n", "y\n")]
    assert found("a.py\n<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n") == []  # 4: not a marker


# ---------------------------------------------------------------------------- beyond Aider


def block(head: str, search: str = "a = 1\n", replace: str = "a = 2\n") -> str:
    return f"{head}{SEARCH}\n{search}{DIVIDER}\n{replace}{REPLACE}\n"


@pytest.mark.parametrize(
    "head",
    [
        "src/app.py\n<source>python\n",
        "src/app.py\n```python\n<source>python\n",
        "src/app.py\n<code>\n",
        "<edit>\nsrc/app.py\n<source lang='python'>\n",
        '<file path="src/app.py">\n',
        "src/app.py\n````\n",
        "src/app.py\n~~~python\n",
        "src/app.py\n~~~~\n",
        "```python:src/app.py\n",
        "```src/app.py\n",
        '```python title="src/app.py"\n',
        '"src/app.py"\n```python\n',
        "'src/app.py'\n",
        "**src/app.py**\n```python\n",
        "`src/app.py`\n",
        "src/app.py:\n",
        "**`src/app.py`**:\n",
        "### src/app.py\n\n```python\n",
        "File: src/app.py\n",
        "**File:** `src/app.py`\n",
        "- `src/app.py`\n",
        "In `src/app.py`, change the constant:\n```python\n",
        "./src/app.py\n",
    ],
)
def test_names_behind_wrappers_fences_and_decoration(head: str) -> None:
    assert found(block(head)) == [("src/app.py", "a = 1\n", "a = 2\n")]


def test_a_name_with_spaces_is_taken_when_quoted() -> None:
    assert found(block('"docs/My Notes.md"\n'))[0][0] == "docs/My Notes.md"
    assert found(block("`docs/My Notes.md`:\n"))[0][0] == "docs/My Notes.md"


def test_prose_that_names_no_file_is_not_taken_as_a_name() -> None:
    for prose in ("Here is the fix:\n", "Update the constant as follows\n", "...\n"):
        assert clean_name(prose) == ""
        with pytest.raises(EditError, match="names no file"):
            parse_blocks(block(prose))
    two = "Move `a.py` code into `b.py`:\n"
    assert clean_name(two) == ""  # two paths: which one is meant is not clear


def test_wrapper_closing_tags_after_a_block_do_not_name_the_next() -> None:
    text = block("a.py\n<source>python\n") + "</source>\n" + block("<source>python\n")
    assert [b[0] for b in found(text)] == ["a.py", "a.py"]


def test_crlf_answers_and_blocks_keep_their_content() -> None:
    text = "new.txt\r\n<<<<<<<< SEARCH\r\n=========\r\nhello\r\n>>>>>>> REPLACE\r\n"
    assert found(text) == [("new.txt", "", "hello\n")]
    kept = found(block("m.py\n", "    if x:\n\n        y()\n", "    pass\n"))
    assert kept[0][1] == "    if x:\n\n        y()\n"


def test_text_without_blocks_and_stray_markers_parse_to_nothing() -> None:
    assert parse_answer("Just an explanation.\n=======\n>>>>>>> REPLACE\n").blocks == ()
    assert parse_answer("Just an explanation.\n=======\n").problems == ()


def test_a_repeated_search_marker_is_one_marker() -> None:
    text = f"a.py\n{SEARCH}\n{SEARCH}\nx\n{DIVIDER}\ny\n{REPLACE}\n"
    assert found(text) == [("a.py", "x\n", "y\n")]


def test_blocks_carry_their_number_and_line() -> None:
    blocks = parse_blocks(block("a.py\n") + "\n" + block("b.py\n"))
    assert [(b.number, b.line) for b in blocks] == [(1, 2), (2, 9)]
    assert blocks[0] == EditBlock("a.py", "a = 1\n", "a = 2\n")


# ---------------------------------------------------------------------------- malformed blocks


def test_a_malformed_block_is_reported_and_the_good_ones_are_kept() -> None:
    text = (
        block("a.py\n")  # 1: fine
        + f"b.py\n{SEARCH}\nold\n{REPLACE}\n"  # 2: no divider
        + block("c.py\n")  # 3: fine
        + f"d.py\n{SEARCH}\nold\n{DIVIDER}\nnew\n"  # 4: never closed, and a block follows
        + block("e.py\n")  # 5: fine
        + f"\n{SEARCH}\nx\n"  # 6: no divider before the end
    )
    parsed = parse_answer(text)
    assert [(b.path, b.number) for b in parsed.blocks] == [("a.py", 1), ("c.py", 3), ("e.py", 5)]
    assert [(p.number, p.line) for p in parsed.problems] == [(2, 8), (4, 18), (6, 29)]
    two, four, six = (p.message for p in parsed.problems)
    assert two.startswith("block 2 (b.py), starting at line 8, has '>>>>>>> REPLACE' at line 10")
    assert f"no {DIVIDER!r} line" in two
    assert four.startswith("block 4 (d.py), starting at line 18, is not closed: expected ")
    assert f"before the next {SEARCH} (line 23)" in four
    assert "missing its '=======' and '>>>>>>> REPLACE' lines." in six
    assert "block 6 (e.py)" in six  # the previous block's file
    for message in (two, four, six):  # what to send instead
        assert f"send it again in this shape:\nPATH/OF/THE/FILE\n{SEARCH}\n" in message
        assert message.endswith(REPLACE)


def test_parse_blocks_names_every_malformed_block() -> None:
    text = f"a.py\n{SEARCH}\nx\n{REPLACE}\n" + f"b.py\n{SEARCH}\nx\n{DIVIDER}\ny\n"
    with pytest.raises(EditError) as caught:
        parse_blocks(text)
    assert "block 1 (a.py)" in caught.value.message and "block 2 (b.py)" in caught.value.message


def test_a_block_without_a_name_is_a_problem_but_later_blocks_still_read() -> None:
    parsed = parse_answer(block("Here is my change:\n") + block("b.py\n"))
    assert (
        parsed.problems == (BlockProblem(1, 2, parsed.problems[0].message),)
        and "names no file" in parsed.problems[0].message
    )
    assert [b.path for b in parsed.blocks] == ["b.py"]


def test_resolve_prefers_exact_then_unique_base_name_then_close_match() -> None:
    known = ("pkg/a.py", "pkg/b.py", "other/b.py", "docs/guide.md")
    assert resolve("pkg/a.py", known, new_file=False) == "pkg/a.py"
    assert resolve("a.py", known, new_file=False) == "pkg/a.py"
    assert resolve("b.py", known, new_file=False) == "b.py"  # two files named so: left alone
    assert resolve("docs/guide.mdd", known, new_file=False) == "docs/guide.md"
    assert resolve("docs/guide.mdd", known, new_file=True) == "docs/guide.mdd"
    assert resolve("zzz/q.txt", known, new_file=False) == "zzz/q.txt"


# ---------------------------------------------------------------------------- divider-like text


def test_a_second_divider_right_before_replace_is_the_end() -> None:
    text = f"a.py\n{SEARCH}\nx\n{DIVIDER}\ny\n{DIVIDER}\n\n{REPLACE}\n"
    assert found(text) == [("a.py", "x\n", "y\n")]


def test_underlines_in_restructured_text_stay_text_where_the_markers_show_it() -> None:
    # The new lines end with a heading underline and go on: the divider-like line is text.
    text = f"doc.rst\n{SEARCH}\nOld\n{DIVIDER}\nNew\n=====\n\nBody\n{REPLACE}\n"
    assert found(text) == [("doc.rst", "Old\n", "New\n=====\n\nBody\n")]
    # An underline among the lines to find: the marker written exactly as DIVIDER divides.
    text = f"doc.rst\n{SEARCH}\nTitle\n=====\n{DIVIDER}\nHeading\n{REPLACE}\n"
    assert found(text) == [("doc.rst", "Title\n=====\n", "Heading\n")]
    # Two dividers written the same way: the first divides, as Aider reads it.
    text = f"doc.rst\n{SEARCH}\nTitle\n{DIVIDER}\nHeading\n{DIVIDER}\nmore\n{REPLACE}\n"
    assert found(text) == [("doc.rst", "Title\n", "Heading\n=======\nmore\n")]


def test_a_block_closed_by_a_divider_does_not_take_the_next_blocks_replace() -> None:
    text = (
        f"a.py\n{SEARCH}\nx\n{DIVIDER}\ny\n{DIVIDER}\nSome prose.\n"
        f"b.py\n{SEARCH}\np\n{DIVIDER}\nq\n{REPLACE}\n"
    )
    assert found(text) == [("a.py", "x\n", "y\n"), ("b.py", "p\n", "q\n")]
