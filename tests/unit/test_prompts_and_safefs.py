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
