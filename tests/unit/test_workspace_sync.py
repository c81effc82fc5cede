"""Workspace snapshots between stages (Cloud Run executions start on an empty disk): a saved
workspace comes back the same, and a hostile snapshot cannot write outside the workspace."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from jobs import workspace_sync
from shared.errors import StageFailed
from shared.fakes import MemoryBlobs
from shared.settings import SandboxLimits, Settings
from shared.wiring import Deps


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = Settings(
        home=tmp_path / "home", jobs="cloudrun", sandbox=SandboxLimits(workspace_backend="none")
    )
    d = Deps(settings)
    d.blobs = MemoryBlobs("http://x")  # type: ignore[misc]
    return d


def _tree(root: Path) -> dict[str, tuple[str, int, str]]:
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        kind = (
            "link"
            if path.is_symlink()
            else "dir"
            if path.is_dir()
            else "fifo"
            if stat.S_ISFIFO(info.st_mode)
            else "file"
        )
        content = (
            os.readlink(path) if kind == "link" else path.read_text() if kind == "file" else ""
        )
        found[str(path.relative_to(root))] = (kind, stat.S_IMODE(info.st_mode), content)
    return found


def test_a_saved_workspace_comes_back_the_same(deps: Deps, tmp_path: Path) -> None:
    ws = tmp_path / "home" / "workspaces" / "t_1"
    (ws / "repo" / "src").mkdir(parents=True)
    (ws / "repo" / "src" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "env" / "venv" / "bin").mkdir(parents=True)
    (ws / "env" / "venv" / "bin" / "python").symlink_to("/usr/bin/python3")  # as a venv has
    (ws / "repo" / "run.sh").write_text("#!/bin/sh\n")
    (ws / "repo" / "run.sh").chmod(0o755)
    (ws / "repo" / "escape").symlink_to("/etc/passwd")  # planted by untrusted code: a link
    os.mkfifo(ws / "repo" / "pipe")
    before = _tree(ws)
    workspace_sync.save(deps, "t_1", ws)
    restored = tmp_path / "home" / "workspaces" / "t_1-restored"
    assert workspace_sync.restore(deps, "t_1", restored) is True
    assert _tree(restored) == before
    assert workspace_sync.restore(deps, "t_1", restored) is False  # a workspace is there
    assert workspace_sync.restore(deps, "t_none", tmp_path / "none") is False  # no snapshot


def _hostile(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


def _file(name: str, size: int) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = size
    return member


def _device(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.CHRTYPE
    return member


@pytest.mark.parametrize(
    "archive",
    [
        lambda: _hostile(_file("../outside.txt", 1), b"x"),
        lambda: _hostile(_device("null")),
        lambda: _hostile(_link("hard", "/etc/passwd", tarfile.LNKTYPE)),
        lambda: _hostile(_link("hard", "../../../../etc/passwd", tarfile.LNKTYPE)),
    ],
)
def test_a_hostile_snapshot_is_refused(deps: Deps, tmp_path: Path, archive: object) -> None:
    deps.blobs.put(workspace_sync.snapshot_key("t_bad"), archive())  # type: ignore[operator]
    with pytest.raises(StageFailed, match="could not be restored"):
        workspace_sync.restore(deps, "t_bad", tmp_path / "home" / "workspaces" / "t_bad")
    assert not (tmp_path / "home" / "workspaces" / "outside.txt").exists()


def test_absolute_names_are_rerooted_inside(deps: Deps, tmp_path: Path) -> None:
    deps.blobs.put(
        workspace_sync.snapshot_key("t_abs"),
        _hostile(_file("/tmp/absolute-errand-test.txt", 1), b"x"),
    )
    ws = tmp_path / "home" / "workspaces" / "t_abs"
    workspace_sync.restore(deps, "t_abs", ws)
    assert (ws / "tmp" / "absolute-errand-test.txt").read_text() == "x"
    assert not Path("/tmp/absolute-errand-test.txt").exists()


def test_hard_links_inside_are_kept(deps: Deps, tmp_path: Path) -> None:
    ws = tmp_path / "home" / "workspaces" / "t_h"
    ws.mkdir(parents=True)
    (ws / "a.txt").write_text("same")
    os.link(ws / "a.txt", ws / "b.txt")
    workspace_sync.save(deps, "t_h", ws)
    back = tmp_path / "back"
    workspace_sync.restore(deps, "t_h", back)
    assert (back / "a.txt").stat().st_ino == (back / "b.txt").stat().st_ino


def test_writing_through_a_planted_symlink_is_refused(deps: Deps, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(_link("out", str(outside)))
        tar.addfile(_file("out/planted.txt", 1), io.BytesIO(b"x"))
    deps.blobs.put(workspace_sync.snapshot_key("t_link"), buffer.getvalue())
    with pytest.raises(StageFailed):
        workspace_sync.restore(deps, "t_link", tmp_path / "home" / "workspaces" / "t_link")
    assert list(outside.iterdir()) == []
