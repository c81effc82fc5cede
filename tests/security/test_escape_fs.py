"""Escape battery, files: host secrets can't be read (by path or link), the host can't be written,
and nothing planted in the workspace gains power on the host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.adapters.workspace_fs import WorkspaceVolumes
from tests.security.probes import FILE_CANARY, Host, probe


@pytest.fixture
def volume(host: Host) -> Iterator[Path]:
    """A quota'd workspace, as the prepare stage provisions it."""
    volumes = WorkspaceVolumes(64)
    path = host.workspace.with_name("task-volume")
    volumes.provision(path)
    yield path
    volumes.release(path)


def test_host_secrets_cannot_be_read_by_path(
    sandbox: BwrapSandbox, workspace: Path, host: Host
) -> None:
    script = (
        f"cat {host.key_file}; cat /workspace/../keys/master.key; "
        "cat /workspace/../../keys/master.key; cat /root/.bashrc; cat /etc/shadow; "
        f"ls -A /etc/ssl/private; ls -A {Path.home()}; ls -A {host.home}; cat /etc/passwd"
    )
    out = probe(sandbox, workspace, script).output
    assert "No such file or directory" in out
    passwd = [line for line in out.splitlines() if line.count(":") == 6]
    # only the sandbox's own two users: none of the host's accounts is even named
    assert [line.split(":")[0] for line in passwd] == ["root", "sandbox"], out


def test_host_secrets_cannot_be_read_through_symlinks(
    sandbox: BwrapSandbox, workspace: Path, host: Host
) -> None:
    links = {
        "key": host.key_file,
        "home": host.home,
        "shadow": Path("/proc/1/root/etc/shadow"),
        "controller": Path(f"/proc/{os.getpid()}/root{host.key_file}"),
        "bashrc": Path("/root/.bashrc"),
    }
    script = "; ".join(f"ln -s {target} {name}; cat {name}" for name, target in links.items())
    script += "; cat home/keys/master.key; ls -A home"
    out = probe(sandbox, workspace, script).output
    assert "root:" not in out, out
    for name in links:
        assert (workspace / name).is_symlink()  # they were made; they lead nowhere inside


def test_writes_outside_the_workspace_fail_and_leave_the_host_as_it_was(
    sandbox: BwrapSandbox, workspace: Path, host: Host
) -> None:
    prefix = Path(sys.base_prefix).resolve()
    targets = [
        "/usr/bin/python3", "/etc/hosts", "/etc/ld.so.preload", "/pwned", "/root/pwned",
        f"{prefix}/bin/pwned", f"{prefix}/lib/python3.11/os.py", str(host.key_file),
        str(host.home / "pwned"), "/workspace/../pwned", "/dev/shm/../../pwned",
    ]  # fmt: skip
    before = {t: (os.stat(t).st_mtime_ns if os.path.exists(t) else None) for t in targets}
    script = "; ".join(f"echo pwned >> {t} && echo WROTE {t}" for t in targets)
    script += "; touch -d 2000-01-01 /usr/bin/env && echo WROTE env"
    out = probe(sandbox, workspace, script).output
    assert "WROTE" not in out, out
    after = {t: (os.stat(t).st_mtime_ns if os.path.exists(t) else None) for t in targets}
    assert after == before
    assert (
        not Path("/etc/ld.so.preload").exists()
        or "pwned" not in Path("/etc/ld.so.preload").read_text()
    )


def test_host_files_cannot_be_hard_linked_into_the_workspace(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    # A hard link would make a host file writable through the workspace.
    script = (
        "for f in /usr/bin/env /etc/hosts /etc/passwd /usr/lib/os-release; do "
        "ln $f /workspace/link && echo LINKED $f; done"
    )
    out = probe(sandbox, workspace, script).output
    assert "LINKED" not in out, out
    assert not (workspace / "link").exists()


def test_a_setuid_program_planted_in_the_workspace_grants_nothing_on_the_host(
    sandbox: BwrapSandbox, volume: Path
) -> None:
    # Inside, uid 1000 is the host's root: a copy of `id` it makes setuid is a setuid-root
    # program on the host. The volume is mounted nosuid, so running it gains nothing.
    result = probe(sandbox, volume, "cp /usr/bin/id suid && chmod 4755 suid && ls -ln suid")
    assert result.exit_code == 0, result.output
    planted = volume / "suid"
    assert planted.stat().st_mode & 0o4000 and planted.stat().st_uid == 0
    fd = os.open(planted, os.O_RDONLY)
    try:
        ran = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", f"/proc/self/fd/{fd}"],
            capture_output=True,
            text=True,
            pass_fds=[fd],
            check=True,
        )
    finally:
        os.close(fd)
    assert ran.stdout.startswith("uid=65534"), ran.stdout
    assert "euid=0" not in ran.stdout


def test_devices_are_limited_to_harmless_ones(sandbox: BwrapSandbox, workspace: Path) -> None:
    script = (
        "ls /dev; mknod /workspace/disk b 254 0 && echo MKNOD; "
        "for d in /dev/vda /dev/sda /dev/mem /dev/kmsg /dev/loop0 /dev/nvme0n1; do "
        "head -c1 $d >/dev/null 2>&1 && echo READ $d; done"
    )
    out = probe(sandbox, workspace, script).output
    listing = set(out.split())
    assert {"null", "zero", "urandom"} <= listing
    assert not listing & {"vda", "sda", "mem", "kmsg", "loop0", "loop-control", "nvme0n1"}
    assert "MKNOD" not in out and "READ" not in out, out
    assert not (workspace / "disk").exists()


def test_the_key_file_content_is_nowhere_in_the_sandbox(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    # Everything the sandbox can read but the read-only system trees (/usr and the Python
    # installation, which hold no secrets and take long to search) holds no canary.
    script = (
        "cd / && for top in *; do case $top in usr|proc|sys|root) ;; *) [ -L $top ] || "
        f"grep -rsl '{FILE_CANARY}' /$top | sed 's/^/HIT /';; esac; done; echo searched"
    )
    result = sandbox.run(workspace, script, timeout_s=30)
    assert "HIT" not in result.output and result.output.endswith("searched\n"), result.output
