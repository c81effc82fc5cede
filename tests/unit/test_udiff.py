"""Unified diffs, parsed and applied with fuzz, tested on strings."""

from __future__ import annotations

import difflib
import random

import pytest

from jobs.agent.udiff import PatchError, apply_patch, apply_patches, parse_patch
from shared.errors import InvalidInput

NUMBERS = "".join(f"line {i}\n" for i in range(1, 41))
CALC = """\
def add(a, b):
    return a - b


def sub(a, b):
    return a - b


def mul(a, b):
    return a * b
"""


def udiff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            f"a/{path}",
            f"b/{path}",
        )
    )


def test_a_correct_git_diff_applies_without_notes() -> None:
    new = CALC.replace("return a - b", "return a + b", 1)
    result = apply_patches({"calc.py": CALC}, parse_patch(udiff("calc.py", CALC, new)))
    assert result.files == {"calc.py": new}
    assert result.notes == []


def test_difflib_diffs_of_random_edits_round_trip() -> None:
    rng = random.Random(7)
    base = [f"row {i} {'x' * (i % 5)}\n" for i in range(200)]
    for _ in range(30):
        new = list(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(new))
            kind = rng.choice(["change", "insert", "delete"])
            if kind == "change":
                new[at] = f"changed {rng.random()}\n"
            elif kind == "insert":
                new.insert(at, f"inserted {rng.random()}\n")
            else:
                del new[at]
        old_text, new_text = "".join(base), "".join(new)
        assert apply_patch({"f.txt": old_text}, udiff("f.txt", old_text, new_text)) == {
            "f.txt": new_text
        }


def test_wrong_line_numbers_from_a_model_are_fuzzed_and_noted() -> None:
    patch = """I changed two lines:
```diff
--- a/n.txt
+++ b/n.txt
@@ -3,3 +3,3 @@
 line 12
-line 13
+LINE 13
 line 14
@@ -50,2 +50,3 @@
 line 25
+added
 line 26
```
That should do it."""
    result = apply_patches({"n.txt": NUMBERS}, parse_patch(patch))
    expected = NUMBERS.replace("line 13\n", "LINE 13\n").replace("line 25\n", "line 25\nadded\n")
    assert result.files == {"n.txt": expected}
    assert result.notes == [
        "n.txt, hunk 1 (@@ -3,3 +3,3 @@): applied at line 12 (the patch says line 3)",
        "n.txt, hunk 2 (@@ -50,2 +50,3 @@): applied at line 25 (the patch says line 50)",
    ]


def test_hunks_without_line_numbers_apply_in_order() -> None:
    patch = "--- a/n.txt\n+++ b/n.txt\n@@ ... @@\n line 2\n-line 3\n+three\n@@ ... @@\n-line 40\n"
    result = apply_patch({"n.txt": NUMBERS}, patch)["n.txt"]
    assert result == NUMBERS.replace("line 3\n", "three\n").replace("line 40\n", "")


def test_stated_line_picks_among_identical_places() -> None:
    content = "start\n" + "x\ny\n" * 3 + "end\n"  # x/y at lines 2, 4 and 6
    patch = "--- a/r\n+++ b/r\n@@ -4,2 +4,2 @@\n x\n-y\n+Y\n"
    assert apply_patch({"r": content}, patch)["r"] == "start\nx\ny\nx\nY\nx\ny\nend\n"


def test_hunks_out_of_order_still_apply() -> None:
    patch = (
        "--- a/n.txt\n+++ b/n.txt\n@@ -30,1 +30,1 @@\n-line 30\n+thirty\n"
        "@@ -2,1 +2,1 @@\n-line 2\n+two\n"
    )
    result = apply_patch({"n.txt": NUMBERS}, patch)["n.txt"]
    assert result == NUMBERS.replace("line 30\n", "thirty\n").replace("line 2\n", "two\n")


def test_context_with_whitespace_lost_or_shifted() -> None:
    content = "def f():\n    x = 1   \n\n    return x\n"
    # The model dropped the trailing spaces, the space before the empty context line, and
    # wrote the function body with two spaces of indentation instead of four.
    patch = (
        "--- a/f.py\n+++ b/f.py\n@@ -1,4 +1,4 @@\n def f():\n   x = 1\n\n-  return x\n"
        "+  return x + 1\n"
    )
    result = apply_patches({"f.py": content}, parse_patch(patch))
    assert result.files["f.py"] == "def f():\n    x = 1   \n\n    return x + 1\n"
    assert result.notes and "ignoring whitespace" in result.notes[0]


def test_a_wrong_context_line_at_the_edge_is_fuzzed() -> None:
    patch = "--- a/n.txt\n+++ b/n.txt\n@@ -9,3 +9,3 @@\n line nine\n-line 10\n+ten\n line 11\n"
    result = apply_patches({"n.txt": NUMBERS}, parse_patch(patch))
    assert result.files["n.txt"] == NUMBERS.replace("line 10\n", "ten\n")
    assert result.notes == [
        "n.txt, hunk 1 (@@ -9,3 +9,3 @@): applied at line 9, ignoring 1 context line"
    ]


def test_fuzz_never_picks_one_of_several_places() -> None:
    content = "0\na\nx\nb\n\nc\nx\nd\ne\n"
    # Only "x" remains once the two wrong context lines are dropped: "x" is at lines 3 and 7.
    patch = "--- a/t\n+++ b/t\n@@ -2,3 +2,3 @@\n q\n-x\n+X\n r\n"
    with pytest.raises(PatchError, match="hunk 1"):
        apply_patch({"t": content}, patch)
    assert apply_patch({"t": content.replace("c\nx", "c\ny")}, patch)["t"] == (
        "0\na\nX\nb\n\nc\ny\nd\ne\n"
    )


def test_fuzz_never_drops_context_at_the_start_or_the_end_of_the_file() -> None:
    # The hunks of the reference cases that git refuses and fuzz used to apply.
    past_end = "--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n"
    with pytest.raises(PatchError, match="hunk 1"):
        apply_patch({"f": "a\nb\nc\n"}, past_end)
    wrong_last = "--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n z\n"
    with pytest.raises(PatchError, match="hunk 1"):
        apply_patch({"f": "a\nb\nc\nd\n"}, wrong_last)
    before_start = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n z\n-a\n+A\n b\n"
    with pytest.raises(PatchError, match="hunk 1"):
        apply_patch({"f": "a\nb\nc\n"}, before_start)
    new_file_hunk = "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n"
    with pytest.raises(PatchError, match=r"'@@ -0,0'\), but f has 3 lines"):
        apply_patch({"f": "a\nb\nc\n"}, new_file_hunk)
    assert apply_patch({}, new_file_hunk) == {"f": "x\ny\n"}  # git creates it, and so do we
    assert apply_patch({"f": ""}, new_file_hunk) == {"f": "x\ny\n"}
    # Away from the edges a wrong context line is still left out.
    mid = "--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n z\n"
    assert apply_patch({"f": "a\nb\nc\nd\ne\n"}, mid) == {"f": "a\nb\nC\nd\ne\n"}


def test_a_deletion_that_leaves_lines_is_refused() -> None:
    patch = "--- a/f\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"
    with pytest.raises(PatchError, match="its hunks leave 1 of its lines"):
        apply_patch({"f": "a\nb\nc\n"}, patch)


def test_unplaceable_hunk_names_file_hunk_and_closest_lines() -> None:
    patch = (
        "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n"
        "+    return a + b\n@@ -9,2 +9,2 @@\n def mul(a, b, c):\n-    return a * b * c\n"
        "+    return a * b\n"
    )
    with pytest.raises(PatchError) as caught:
        apply_patch({"calc.py": CALC}, patch)
    error = caught.value
    assert (error.path, error.hunk, error.line) == ("calc.py", 2, 9)
    assert error.message.startswith("calc.py, hunk 2 (@@ -9,2 +9,2 @@): ")
    assert error.closest == " 9 | def mul(a, b):\n10 |     return a * b\n"
    assert isinstance(error, InvalidInput)


def test_several_files_created_modified_and_deleted() -> None:
    patch = """diff --git a/calc.py b/calc.py
index 1111111..2222222 100644
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1,2 @@
+# New
+text
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
"""
    files = {"calc.py": CALC, "old.txt": "bye\n", "untouched.py": "x\n"}
    assert apply_patch(files, patch) == {
        "calc.py": CALC.replace("return a - b", "return a + b", 1),
        "docs/new.md": "# New\ntext\n",
        "old.txt": None,
    }


def test_git_rename_and_empty_new_file() -> None:
    patch = (
        "diff --git a/a.py b/b.py\nsimilarity index 100%\nrename from a.py\nrename to b.py\n"
        "diff --git a/empty.txt b/empty.txt\nnew file mode 100644\nindex 0000000..e69de29\n"
    )
    assert apply_patch({"a.py": "x\n"}, patch) == {"a.py": None, "b.py": "x\n", "empty.txt": ""}


def test_creating_an_existing_file_or_patching_a_missing_one_is_refused() -> None:
    create = "--- /dev/null\n+++ b/calc.py\n@@ -0,0 +1 @@\n+x\n"
    with pytest.raises(PatchError, match=r"calc\.py already exists"):
        apply_patch({"calc.py": CALC}, create)
    with pytest.raises(PatchError, match=r"calc\.py already exists"):  # as git: even empty
        apply_patch({"calc.py": ""}, create)
    assert apply_patch({}, create) == {"calc.py": "x\n"}
    with pytest.raises(PatchError, match=r"missing\.py does not exist"):
        apply_patch({}, "--- a/missing.py\n+++ b/missing.py\n@@ -1 +1 @@\n-a\n+b\n")


def test_pure_insertion_goes_after_the_stated_line() -> None:
    patch = "--- a/n.txt\n+++ b/n.txt\n@@ -3,0 +4,2 @@\n+new a\n+new b\n"
    result = apply_patch({"n.txt": NUMBERS}, patch)["n.txt"]
    assert result == NUMBERS.replace("line 3\n", "line 3\nnew a\nnew b\n")


def test_insertion_without_context_or_numbers_is_refused() -> None:
    with pytest.raises(PatchError, match="only adds lines and has no line numbers"):
        apply_patch({"n.txt": NUMBERS}, "--- a/n.txt\n+++ b/n.txt\n@@ @@\n+x\n")


def test_crlf_file_and_crlf_patch() -> None:
    content = "one\r\ntwo\r\nthree\r\n"
    patch = (
        "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,3 +1,4 @@\r\n one\r\n-two\r\n+2\r\n+2.5\r\n three\r\n"
    )
    assert apply_patch({"w.txt": content}, patch)["w.txt"] == "one\r\n2\r\n2.5\r\nthree\r\n"


def test_no_newline_at_end_of_file_markers() -> None:
    add_newline = "--- a/t\n+++ b/t\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
    assert apply_patch({"t": "a\nb"}, add_newline)["t"] == "a\nb\n"
    drop_newline = "--- a/t\n+++ b/t\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    assert apply_patch({"t": "a\nb\n"}, drop_newline)["t"] == "a\nc"
    append = "--- a/t\n+++ b/t\n@@ -2 +2,2 @@\n b\n\\ No newline at end of file\n+c\n"
    # The marker after a context line takes its newline on both sides: git 2.39 writes "bc".
    assert apply_patch({"t": "a\nb"}, append)["t"] == "a\nbc\n"
    append = "--- a/t\n+++ b/t\n@@ -2 +2,2 @@\n-b\n\\ No newline at end of file\n+b\n+c\n"
    assert apply_patch({"t": "a\nb"}, append)["t"] == "a\nb\nc\n"
    # A hunk away from the end leaves a missing final newline missing.
    middle = "--- a/t\n+++ b/t\n@@ -1 +1 @@\n-a\n+A\n"
    assert apply_patch({"t": "a\nb\nc"}, middle)["t"] == "A\nb\nc"


def test_removed_sql_comment_lines_are_not_file_headers() -> None:
    content = "select 1;\n-- old comment\nselect 2;\n"
    patch = (
        "--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,3 @@\n select 1;\n--- old comment\n+++ new\n"
        " select 2;\n"
    )
    # The counts say the hunk goes on, and no '@@' follows: a removed "-- old comment" and an
    # added "++ new", not the header of another file.
    assert apply_patch({"q.sql": content}, patch)["q.sql"] == "select 1;\n++ new\nselect 2;\n"


def test_trailing_blank_lines_after_the_diff_are_not_context() -> None:
    patch = "--- a/t\n+++ b/t\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n\n\n"
    assert apply_patch({"t": "a\nb\nc\n"}, patch)["t"] == "a\nB\nc\n"


def test_unicode_content() -> None:
    content = "名前 = 'Zoë'\nemoji = '🎉'\n"
    patch = "--- a/u.py\n+++ b/u.py\n@@ -2 +2 @@\n-emoji = '🎉'\n+emoji = '🚀'\n"
    assert apply_patch({"u.py": content}, patch)["u.py"] == "名前 = 'Zoë'\nemoji = '🚀'\n"


def test_two_sections_for_the_same_file_apply_one_after_the_other() -> None:
    patch = (
        "--- a/n.txt\n+++ b/n.txt\n@@ -1 +1 @@\n-line 1\n+one\n"
        "--- a/n.txt\n+++ b/n.txt\n@@ -1 +1 @@\n-one\n+ONE\n"
    )
    assert apply_patch({"n.txt": NUMBERS}, patch)["n.txt"] == NUMBERS.replace("line 1\n", "ONE\n")


def test_parse_errors() -> None:
    with pytest.raises(PatchError, match="no unified diff found"):
        parse_patch("I would change add() to return a + b.")
    with pytest.raises(PatchError, match="line 1 of the patch comes before any file header"):
        parse_patch("@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(PatchError, match="binary patches are not supported"):
        apply_patch({"i.png": "x"}, "diff --git a/i.png b/i.png\nBinary files a/i.png differ\n")
    with pytest.raises(PatchError, match="has no hunks"):
        apply_patch({"t": "a\n"}, "--- a/t\n+++ b/t\n")


def test_paths_keep_a_real_directory_named_a_when_not_git_style() -> None:
    [patch] = parse_patch("--- a/x.py\n+++ a/x.py\n@@ -1 +1 @@\n-1\n+2\n")
    assert (patch.old_path, patch.new_path) == ("a/x.py", "a/x.py")
    [patch] = parse_patch(
        "--- x.py\t2024-01-01 00:00:00\n+++ x.py\t2024-01-02\n@@ -1 +1 @@\n-1\n+2\n"
    )
    assert patch.path == "x.py"


# ---------------------------------------------------------------------------- without fuzz: git


def test_without_fuzz_the_rules_are_gits() -> None:
    ten = "".join(f"line {i}\n" for i in range(1, 11))

    def strict(patch: str, content: str = ten) -> str | None:
        return apply_patch({"n": content}, "--- a/n\n+++ b/n\n" + patch, fuzz=False)["n"]

    # Offsets are fine: the hunk is searched outwards from its line.
    assert strict("@@ -2,3 +2,3 @@\n line 5\n-line 6\n+six\n line 7\n") == ten.replace(
        "line 6\n", "six\n"
    )
    # A hunk at line 1 must be at the start, one without trailing context at the end.
    for hunk in (
        "@@ -1,3 +1,3 @@\n line 5\n-line 6\n+six\n line 7\n",
        "@@ -4,2 +4,2 @@\n line 4\n-line 5\n+five\n",
        "@@ -1,3 +1,3 @@\n line 1\n-line 2\n+two\n",  # its count is wrong too
    ):
        with pytest.raises(PatchError):
            strict(hunk)
    # Counts are exact: fewer lines than counted is a corrupt patch; lines past them are not
    # part of the hunk (which then has no trailing context, so must be at the end).
    with pytest.raises(PatchError, match="corrupt patch at line 8"):
        strict("@@ -1,4 +1,4 @@\n line 1\n-line 2\n+two\n line 3\n")
    with pytest.raises(PatchError, match="does not apply"):
        strict("@@ -1,2 +1,2 @@\n line 1\n-line 2\n+two\n line 3\n")
    # Whitespace must match; the patch text must end with a newline.
    with pytest.raises(PatchError):
        strict("@@ -4,3 +4,3 @@\n line 4 \n-line 5\n+five\n line 6\n")
    with pytest.raises(PatchError, match="corrupt patch at line 7"):  # git's numbers too
        strict("@@ -4,3 +4,3 @@\n line 4\n-line 5\n+five\n line 6")
    # git's quirks are kept: a bare insertion goes to the end of the file...
    assert strict("@@ -3,0 +4,2 @@\n+x\n+y\n") == ten + "x\ny\n"
    # ...which with fuzz (as with git apply --unidiff-zero) goes after the line it names.
    bare = "--- a/n\n+++ b/n\n@@ -3,0 +4,2 @@\n+x\n+y\n"
    assert apply_patch({"n": ten}, bare)["n"] == ten.replace("line 3\n", "line 3\nx\ny\n")
    # A context line marked "no newline" matches a line that has one, as a prefix.
    marked = "@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n"
    assert strict(marked, "a\nb\nc\n") == "A\nbc\n"


def test_without_fuzz_file_names_are_read_as_git_reads_them() -> None:
    # git strips the first directory of each name (-p1), whatever it is.
    patch = "--- x/src/a.py\n+++ y/src/a.py\n@@ -1 +1 @@\n-1\n+2\n"
    assert apply_patch({"src/a.py": "1\n"}, patch, fuzz=False) == {"src/a.py": "2\n"}
    with pytest.raises(PatchError, match="no such file"):
        apply_patch({"a/x.py": "1\n"}, "--- a/x.py\n+++ a/x.py\n@@ -1 +1 @@\n-1\n+2\n", fuzz=False)
    # With fuzz, a name that is a real path is kept (see the test above on a directory named a).
    assert apply_patch({"a/x.py": "1\n"}, "--- a/x.py\n+++ a/x.py\n@@ -1 +1 @@\n-1\n+2\n") == {
        "a/x.py": "2\n"
    }
