"""The agent's file tools driven through the real bubblewrap sandbox, on a workspace that
untrusted code has filled with symlinks pointing out of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import JsonValue

from jobs.agent.file_tools import FileTools, repo_path
from jobs.agent.safe_write import WorkspaceFiles, remove_file, write_new_file
from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.errors import InvalidInput
from shared.ports import CommandResult

CANARY = "CANARY-3f9a1c: host secret that must never reach the model"


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(memory_mb=512, pids=128)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    repo = tmp_path / "workspace" / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return repo.parent


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory outside the workspace (and not bound into the sandbox)."""
    path = tmp_path / "host"
    path.mkdir()
    (path / "secret.txt").write_text(CANARY + "\n")
    return path


@pytest.fixture
def tools(sandbox: BwrapSandbox, workspace: Path) -> FileTools:
    return FileTools(lambda command: run(sandbox, workspace, command), workspace)


def run(sandbox: BwrapSandbox, workspace: Path, command: str) -> CommandResult:
    return sandbox.run(workspace, command, cwd="/workspace/repo", timeout_s=60)


def call(tools: FileTools, name: str, **args: JsonValue) -> str:
    return tools.handlers[name](dict(args))


def test_specs_and_handlers_match() -> None:
    tools = FileTools(lambda command: CommandResult(exit_code=1, output="", duration_s=0), Path())
    assert [s.name for s in tools.specs] == list(tools.handlers)
    for spec in tools.specs:
        assert spec.parameters["type"] == "object"


def test_view_numbers_lines_and_pages_through_long_files(tools: FileTools, workspace: Path) -> None:
    assert call(tools, "view", path="src/calc.py") == (
        "src/calc.py (lines 1-2 of 2)\n1 | def add(a, b):\n2 |     return a - b\n"
    )
    (workspace / "repo" / "long.txt").write_text("".join(f"row {i}\n" for i in range(1, 1001)))
    first = call(tools, "view", path="/workspace/repo/long.txt")
    assert first.startswith("long.txt (lines 1-400 of 1000)\n  1 | row 1\n")
    assert first.endswith("400 | row 400\n[600 more lines: view with start_line=401]\n")
    part = call(tools, "view", path="./long.txt", start_line=998, end_line=1200)
    assert (
        part
        == "long.txt (lines 998-1000 of 1000)\n 998 | row 998\n 999 | row 999\n1000 | row 1000\n"
    )
    assert call(tools, "view", path="long.txt", start_line=2000).startswith(
        "error: start_line 2000 is past the end of long.txt (1000 lines)"
    )


def test_view_lists_directories_and_reports_what_it_cannot_show(
    tools: FileTools, workspace: Path
) -> None:
    repo = workspace / "repo"
    (repo / "blob.bin").write_bytes(b"\x89PNG\x00\x01")
    (repo / "empty.txt").write_text("")
    assert call(tools, "view", path=".") == "./ (3 entries)\nblob.bin\nempty.txt\nsrc/"
    assert call(tools, "view", path="src") == "src/ (1 entries)\ncalc.py"
    assert call(tools, "view", path="blob.bin").startswith("error: blob.bin is binary")
    assert call(tools, "view", path="empty.txt") == "empty.txt is empty"
    assert call(tools, "view", path="nope.py").startswith("error: nope.py does not exist")
    assert call(tools, "view", path="/etc/passwd").startswith("error: /etc/passwd is outside")
    assert call(tools, "view", path="../x").startswith("error: ../x is outside")
    with pytest.raises(ValueError, match="'path' must be a non-empty string"):
        call(tools, "view", path="")


def test_symlinks_out_of_the_workspace_are_never_followed(
    tools: FileTools, workspace: Path, outside: Path
) -> None:
    repo = workspace / "repo"
    (repo / "evil").symlink_to(outside / "secret.txt")
    (repo / "evil_dir").symlink_to(outside)
    (repo / "passwd").symlink_to("/etc/passwd")
    results = [
        call(tools, "view", path="evil"),
        call(tools, "view", path="evil_dir"),
        call(tools, "view", path="evil_dir/secret.txt"),
        call(tools, "view", path="passwd"),
        call(tools, "edit", path="evil", search="CANARY", replace="pwned"),
        call(tools, "edit", path="evil_dir/secret.txt", search="CANARY", replace="pwned"),
        call(tools, "create", path="evil", content="pwned\n", overwrite=True),
        call(tools, "create", path="evil_dir/new.txt", content="pwned\n"),
        call(tools, "apply_patch", patch=f"--- a/evil\n+++ b/evil\n@@ -1 +1 @@\n-{CANARY}\n+x\n"),
        call(
            tools, "apply_patch", patch="--- /dev/null\n+++ b/evil_dir/p.txt\n@@ -0,0 +1 @@\n+x\n"
        ),
        call(tools, "apply_patch", patch="--- a/evil\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"),
    ]
    for result in results:
        assert result.startswith("error: "), result
        assert "CANARY" not in result
        assert "root:" not in result
    assert (outside / "secret.txt").read_text() == CANARY + "\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (repo / "evil").is_symlink() and (repo / "evil_dir").is_symlink()
    assert sorted(p.name for p in workspace.iterdir()) == ["repo"]  # nothing staged left over


def test_edit_applies_in_place_and_shows_the_result(tools: FileTools, workspace: Path) -> None:
    calc = workspace / "repo" / "src" / "calc.py"
    calc.chmod(0o755)
    result = call(tools, "edit", path="src/calc.py", search="return a - b", replace="return a + b")
    assert result == "edited src/calc.py\n1 | def add(a, b):\n2 |     return a + b\n"
    assert calc.read_text() == "def add(a, b):\n    return a + b\n"
    assert stat.S_IMODE(calc.stat().st_mode) == 0o755
    assert sorted(p.name for p in workspace.iterdir()) == ["repo"]


def test_edit_tolerates_indentation_and_reports_near_misses(
    tools: FileTools, workspace: Path
) -> None:
    calc = workspace / "repo" / "src" / "calc.py"
    result = call(
        tools, "edit", path="src/calc.py", search="return a - b\n", replace="x = a\nreturn x + b\n"
    )
    assert result.startswith("edited src/calc.py (whitespace differed")
    assert calc.read_text() == "def add(a, b):\n    x = a\n    return x + b\n"
    miss = call(tools, "edit", path="src/calc.py", search="def add(a, c):\n", replace="")
    assert miss.startswith("error: the search text is not in the file")
    assert "1 | def add(a, b):" in miss
    same = call(tools, "edit", path="src/calc.py", search="x = a", replace="x = a")
    assert same.startswith("error: the edit changes nothing")
    with pytest.raises(KeyError):
        call(tools, "edit", path="src/calc.py", search="x")


def test_edit_through_a_symlink_inside_the_repo_edits_its_target(
    tools: FileTools, workspace: Path
) -> None:
    repo = workspace / "repo"
    (repo / "alias.py").symlink_to("src/calc.py")
    call(tools, "edit", path="alias.py", search="a - b", replace="a + b")
    assert (repo / "alias.py").is_symlink()
    assert (repo / "src" / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_edit_keeps_crlf_and_unicode_bytes(tools: FileTools, workspace: Path) -> None:
    path = workspace / "repo" / "src" / "café.txt"
    path.write_bytes("première ligne\r\nzweite Zeile 🎉\r\n".encode())
    result = call(tools, "edit", path="src/café.txt", search="zweite Zeile 🎉\n", replace="2\n3\n")
    assert result.startswith("edited src/café.txt")
    assert path.read_bytes() == "première ligne\r\n2\r\n3\r\n".encode()


def test_create_makes_directories_and_refuses_to_overwrite_unless_asked(
    tools: FileTools, workspace: Path
) -> None:
    repo = workspace / "repo"
    assert call(tools, "create", path="pkg/sub/mod.py", content="x = 1\n") == (
        "wrote pkg/sub/mod.py (1 line)"
    )
    assert (repo / "pkg" / "sub" / "mod.py").read_text() == "x = 1\n"
    refused = call(tools, "create", path="pkg/sub/mod.py", content="y\n")
    assert refused.startswith("error: pkg/sub/mod.py already exists")
    assert (repo / "pkg" / "sub" / "mod.py").read_text() == "x = 1\n"
    assert call(tools, "create", path="pkg/sub/mod.py", content="y\n", overwrite=True) == (
        "wrote pkg/sub/mod.py (1 line)"
    )
    assert (repo / "pkg" / "sub" / "mod.py").read_text() == "y\n"
    assert call(tools, "create", path="src", content="x", overwrite=True).startswith("error: ")
    under_a_file = call(tools, "create", path="src/calc.py/x.py", content="x")
    assert under_a_file.startswith("error: could not write: ")
    assert "may already have changed" not in under_a_file
    with pytest.raises(ValueError, match="'overwrite' must be true or false"):
        call(tools, "create", path="a.txt", content="x", overwrite="maybe")


def test_apply_patch_creates_modifies_and_deletes(tools: FileTools, workspace: Path) -> None:
    repo = workspace / "repo"
    (repo / "old.txt").write_text("bye\n")
    patch = (
        "--- a/src/calc.py\n+++ b/src/calc.py\n@@ -7,2 +7,2 @@\n def add(a, b):\n"
        "-    return a - b\n+    return a + b\n"
        "--- /dev/null\n+++ b/docs/NEW.md\n@@ -0,0 +1 @@\n+# New\n"
        "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    )
    result = call(tools, "apply_patch", patch=patch)
    assert result.splitlines() == [
        "patched src/calc.py",
        "created docs/NEW.md",
        "deleted old.txt",
        "src/calc.py, hunk 1 (@@ -7,2 +7,2 @@): applied at line 1 (the patch says line 7)",
    ]
    assert (repo / "src" / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (repo / "docs" / "NEW.md").read_text() == "# New\n"
    assert not (repo / "old.txt").exists()
    again = call(tools, "apply_patch", patch=patch)
    assert again.startswith("error: src/calc.py, hunk 1")  # nothing written the second time
    assert (repo / "docs" / "NEW.md").read_text() == "# New\n"


def test_apply_text_takes_blocks_or_a_diff_from_a_plain_answer(
    tools: FileTools, workspace: Path
) -> None:
    calc = workspace / "repo" / "src" / "calc.py"
    assert tools.apply_text("I think we are done.") is None
    blocks = (
        "src/calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n"
        ">>>>>>> REPLACE\n\nnotes.txt\n<<<<<<< SEARCH\n=======\nfixed add\n>>>>>>> REPLACE\n"
    )
    assert tools.apply_text(blocks) == "edited src/calc.py\ncreated notes.txt"
    assert calc.read_text() == "def add(a, b):\n    return a + b\n"
    assert (workspace / "repo" / "notes.txt").read_text() == "fixed add\n"
    failing = "src/calc.py\n<<<<<<< SEARCH\nnot there at all\n=======\nx\n>>>>>>> REPLACE\n"
    assert (tools.apply_text(failing) or "").startswith("error: block 1 (src/calc.py): ")
    diff = (
        "```diff\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -2 +2 @@\n-    return a + b\n"
        "+    return b + a\n```"
    )
    assert tools.apply_text(diff) == "patched src/calc.py"
    assert calc.read_text() == "def add(a, b):\n    return b + a\n"


def test_large_files_are_read_in_chunks(
    tools: FileTools, sandbox: BwrapSandbox, workspace: Path
) -> None:
    text = "".join(f"{i:06d} " + "z" * 93 + "\n" for i in range(3000))  # 300 kB, 4 chunks
    (workspace / "repo" / "big.txt").write_text(text)
    call(tools, "edit", path="big.txt", search="002999 ", replace="last! ")
    assert (workspace / "repo" / "big.txt").read_text() == text.replace("002999 ", "last! ")
    data = os.urandom(50_000)
    (workspace / "repo" / "big.bin").write_bytes(data)
    files = WorkspaceFiles(
        lambda command: run(sandbox, workspace, command), workspace, chunk_bytes=16_000
    )
    state = files.read("big.bin")
    assert (state.kind, state.data) == ("file", data)
    small = WorkspaceFiles(
        lambda command: run(sandbox, workspace, command), workspace, max_file_bytes=1000
    )
    with pytest.raises(InvalidInput, match=r"big\.bin is 50000 bytes, more than the 1000"):
        small.read("big.bin")


def test_write_new_file_never_follows_or_replaces_a_symlink(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    (root / "link").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside)
    with pytest.raises(FileExistsError):
        write_new_file(root, "link", b"pwned")
    with pytest.raises(OSError):
        write_new_file(root, "linkdir/new.txt", b"pwned")
    with pytest.raises(InvalidInput, match="unsafe path"):
        write_new_file(root, "../escape.txt", b"pwned")
    assert (outside / "secret.txt").read_text() == CANARY + "\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    write_new_file(root, "dir/ok.txt", b"fine")
    assert (root / "dir" / "ok.txt").read_bytes() == b"fine"
    assert stat.S_IMODE((root / "dir" / "ok.txt").stat().st_mode) == 0o644
    assert remove_file(root, "link") and not (root / "link").exists()
    assert (outside / "secret.txt").exists()
    assert not remove_file(root, "dir/missing.txt")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a.py", "a.py"), ("./src//b.py", "src/b.py"), ("/workspace/repo/c/d.py", "c/d.py")],
)
def test_repo_path_normalises(raw: str, expected: str) -> None:
    assert repo_path(raw) == expected


@pytest.mark.parametrize("raw", ["/etc/passwd", "../up", "src/../../up", "/workspace/other"])
def test_repo_path_refuses_paths_outside(raw: str) -> None:
    with pytest.raises(InvalidInput, match="outside the repository"):
        repo_path(raw)


def test_apply_text_keeps_good_blocks_and_reports_the_bad_ones(
    tools: FileTools, workspace: Path
) -> None:
    calc = workspace / "repo" / "src" / "calc.py"
    answer = (
        "src/calc.py\n<source>python\n<<<<<<< SEARCH\n    return a - b\n=======\n"
        "    return a + b\n=======\n</source>\n\n"  # a wrapper line and a second divider
        "src/calc.py\n<<<<<<< SEARCH\ndef add(a, b):\n>>>>>>> REPLACE\n\n"  # no divider
        "notes.txt\n```\n<<<<<<< SEARCH\n=======\nfixed add\n>>>>>>> REPLACE\n```\n"
        "src/calc.py\n<<<<<<< SEARCH\nnot in the file\n=======\nx\n>>>>>>> REPLACE\n"
    )
    report = (tools.apply_text(answer) or "").splitlines()
    assert report[:3] == [
        "edited src/calc.py",
        "created notes.txt",
        "error: block 2 (src/calc.py), starting at line 11, has '>>>>>>> REPLACE' at line 13 "
        "but no '=======' line between the lines to find and the new lines. It was not applied; "
        "send it again in this shape:",
    ]
    assert any(line.startswith("error: block 4 (src/calc.py): the search text") for line in report)
    assert report[-1].startswith("The other 2 block(s) were applied: do not send them again")
    assert calc.read_text() == "def add(a, b):\n    return a + b\n"
    assert (workspace / "repo" / "notes.txt").read_text() == "fixed add\n"


def test_apply_text_resolves_a_base_name_or_a_misspelt_name_to_the_repository_file(
    tools: FileTools, workspace: Path
) -> None:
    (workspace / "repo" / "docs").mkdir()
    (workspace / "repo" / "docs" / "guide.md").write_text("# Guide\n")
    answer = (
        "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
        "docs/guid.md\n<<<<<<< SEARCH\n# Guide\n=======\n# The guide\n>>>>>>> REPLACE\n"
        "new/calc.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n"  # new: taken as named
    )
    assert (
        tools.apply_text(answer) == "edited src/calc.py\nedited docs/guide.md\ncreated new/calc.py"
    )
    assert (workspace / "repo" / "src" / "calc.py").read_text().endswith("return a + b\n")
    assert (workspace / "repo" / "docs" / "guide.md").read_text() == "# The guide\n"
