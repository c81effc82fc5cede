from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.prompts import render
from shared import safefs
from shared.errors import ConfigError, InvalidInput


def test_templates_render_strictly() -> None:
    assert "fix it" in render("summarize_user", prompt="fix it", plan="p", files="f", verdict="v")
    with pytest.raises(ConfigError, match="needs a value for verdict"):
        render("summarize_user", prompt="fix it", plan="p", files="f")


def test_safefs_reads_inside_and_refuses_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("inside")
    secret = tmp_path / "secret.txt"
    secret.write_text("canary-secret")
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "linkdir")
    assert safefs.read_text(root, "sub/a.txt") == "inside"
    assert safefs.read_text(root, "link.txt") is None
    assert safefs.read_text(root, "linkdir/secret.txt") is None
    assert safefs.read_text(root, "missing") is None
    assert safefs.kind(root, "sub") == "dir" and safefs.kind(root, "sub/a.txt") == "file"
    assert safefs.kind(root, "link.txt") is None and safefs.kind(root, "linkdir/secret.txt") is None
    with pytest.raises(InvalidInput):
        safefs.read_text(root, "../secret.txt")
    big = root / "big"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(InvalidInput, match="more than"):
        safefs.read_bytes(root, "big", max_bytes=1000)


def test_files_under_reads_the_tree_in_walk_order_and_refuses_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for rel in ("b/z.py", "b/a.py", "a.txt", "skip/x.py", "c/d/e.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    secret = tmp_path / "secret.txt"
    secret.write_text("canary-secret")
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "linkdir")
    os.mkfifo(root / "pipe")
    (root / "big").write_bytes(b"x" * 2000)
    (root / "ignored.bin").write_text("not wanted")
    found = dict(safefs.files_under(root, {"skip"}, lambda name: not name.endswith(".bin"), 1000))
    assert list(found) == ["a.txt", "big", "link.txt", "pipe", "b/a.py", "b/z.py", "c/d/e.py"]
    assert found["b/a.py"] == b"b/a.py" and found["c/d/e.py"] == b"c/d/e.py"
    assert found["link.txt"] is None and found["pipe"] is None and found["big"] is None
    assert b"canary-secret" not in b"".join(v for v in found.values() if v)
    assert list(safefs.files_under(root / "linkdir", set(), lambda name: True, 1000)) == []
