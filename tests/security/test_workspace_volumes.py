"""Workspace volumes: the disk quota's life cycle, as prepare and the job runner use it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.adapters.workspace_fs import WorkspaceVolumes, release
from shared.errors import InvalidInput
from tests.security.probes import Host, probe


def _mount(path: Path) -> tuple[str, set[str], int]:
    """(fstype, options, layers) of what is mounted on `path`."""
    layers = [
        line.split()
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4] == str(path)
    ]
    assert layers, f"nothing is mounted on {path}"
    fields = layers[-1]
    fstype = fields[fields.index("-") + 1]
    return fstype, set(fields[5].split(",")), len(layers)


@pytest.mark.parametrize("backend", ["loop", "tmpfs"])
def test_a_volume_is_an_empty_private_nosuid_filesystem_the_sandbox_can_write(
    backend: str, host: Host, sandbox: BwrapSandbox
) -> None:
    volumes = WorkspaceVolumes(64, backend=backend)
    path = host.workspace.with_name("vol")
    volumes.provision(path)
    try:
        assert volumes.backend == backend and volumes.size_mb == 64
        assert os.listdir(path) == []
        info = path.stat()
        assert info.st_mode & 0o777 == 0o700 and info.st_uid == os.getuid()
        fstype, options, _ = _mount(path)
        assert fstype == ("ext4" if backend == "loop" else "tmpfs")
        assert {"nosuid", "nodev"} <= options
        total = os.statvfs(path).f_blocks * os.statvfs(path).f_frsize
        assert 48 << 20 < total <= 64 << 20
        # root-owned is right: inside, uid 1000 is the host's root
        result = probe(sandbox, path, "git init -q repo && echo hi > repo/f && cat repo/f")
        assert result.output == "hi\n"
        assert (path / "repo" / "f").stat().st_uid == os.getuid()
    finally:
        volumes.release(path)
    assert not path.exists() and not path.with_name("vol.img").exists()


def test_provisioning_again_starts_over_with_one_fresh_volume(host: Host) -> None:
    volumes = WorkspaceVolumes(32)
    path = host.workspace.with_name("vol")
    path.mkdir()
    (path / "leftover").write_text("from a crashed attempt")
    volumes.provision(path)
    (path / "first").write_text("1")
    volumes.provision(path)  # a redelivered prepare
    try:
        assert os.listdir(path) == []
        assert _mount(path)[2] == 1
    finally:
        volumes.release(path)


def test_release_is_idempotent_and_copes_with_a_busy_volume(host: Host) -> None:
    volumes = WorkspaceVolumes(32, backend="loop")
    path = host.workspace.with_name("vol")
    volumes.provision(path)
    lingering = subprocess.Popen(["sleep", "30"], cwd=path)
    try:
        volumes.release(path)  # busy: detached lazily, gone for everyone else
        assert not path.exists() and not path.with_name("vol.img").exists()
    finally:
        lingering.kill()
        lingering.wait()
    release(path)
    release(host.home / "never-provisioned")


def test_a_tmpfs_volume_is_capped_at_half_the_memory() -> None:
    total_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
    volumes = WorkspaceVolumes(100 * total_mb, backend="tmpfs")
    assert abs(volumes.size_mb - total_mb // 2) <= 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 16 MB"):
        WorkspaceVolumes(1)
    with pytest.raises(InvalidInput, match="use auto, loop, tmpfs or none"):
        WorkspaceVolumes(64, backend="zfs")


def test_none_is_an_explicit_plain_directory(tmp_path: Path) -> None:
    volumes = WorkspaceVolumes(64, backend="none")
    assert volumes.backend == "none" and volumes.size_mb == 0
    ws = tmp_path / "ws"
    volumes.provision(ws)
    assert ws.is_dir() and not os.path.ismount(ws)
    volumes.release(ws)
    assert not ws.exists()
