"""Escape battery, privilege: no capabilities to use, no namespaces to make, no host process to
trace or signal, no way out of the command's cgroups."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shared.adapters.bwrap_sandbox import BwrapSandbox
from tests.security.probes import probe, python


def test_the_command_has_no_capabilities_and_cannot_gain_any(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    out = probe(sandbox, workspace, "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status").output
    fields = dict(line.split(":\t") for line in out.strip().splitlines())
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert fields[name] == "0000000000000000", out
    assert fields["NoNewPrivs"] == "1"  # setuid programs run without their privileges


def test_mount_remount_and_chroot_are_refused(sandbox: BwrapSandbox, workspace: Path) -> None:
    script = (
        "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m && echo MOUNTED; "
        "mount --bind /workspace /tmp/m && echo BOUND; "
        "mount -o remount,rw / && echo REMOUNTED; mount -o remount,rw /usr && echo REMOUNTED; "
        "mount -o remount,rw /proc && echo REMOUNTED; umount /etc && echo UNMOUNTED; "
        "chroot / true && echo CHROOTED; "
        "touch /usr/pwned && echo WROTE"
    )
    out = probe(sandbox, workspace, script).output
    for word in ("MOUNTED", "BOUND", "REMOUNTED", "UNMOUNTED", "CHROOTED", "WROTE"):
        assert word not in out, out
    assert not Path("/usr/pwned").exists()


def test_new_namespaces_cannot_be_made(sandbox: BwrapSandbox, workspace: Path) -> None:
    # A new user namespace would hand the command every capability again (within it).
    script = (
        "unshare -U true && echo MADE user; unshare -r true && echo MADE root-map; "
        "unshare -m true && echo MADE mount; unshare -n true && echo MADE net; "
        "unshare -p -f true && echo MADE pid; unshare -C true && echo MADE cgroup; "
        "bwrap --ro-bind / / true && echo MADE bwrap"
    )
    out = probe(sandbox, workspace, script).output
    assert "MADE" not in out, out
    # user namespaces are exhausted by design (bwrap's --disable-userns), the rest need caps
    assert "unshare failed: No space left on device" in out, out


def test_host_processes_cannot_be_traced(
    sandbox: BwrapSandbox, workspace: Path, host_sleeper: subprocess.Popen[bytes]
) -> None:
    pid = host_sleeper.pid
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"for target in ({pid}, {os.getpid()}):\n"
        "    rc = libc.ptrace(16, target, 0, 0)\n"  # PTRACE_ATTACH
        "    print('ptrace', target, 'ATTACHED' if rc == 0 else 'refused')\n"
    )
    script = (
        f"{python(code)}\n"
        f"timeout 5 strace -p {pid} -e trace=none 2>&1 | tail -1\n"
        f"timeout 5 gdb -batch -p {pid} 2>&1 | grep -iE 'attach|no such|denied' | head -2"
    )
    out = probe(sandbox, workspace, script).output
    assert "ATTACHED" not in out, out
    assert out.count("refused") == 2, out
    assert host_sleeper.poll() is None
    status = Path(f"/proc/{pid}/status").read_text()
    assert "TracerPid:\t0" in status


def test_host_processes_cannot_be_signalled(
    sandbox: BwrapSandbox, workspace: Path, host_sleeper: subprocess.Popen[bytes]
) -> None:
    pid = host_sleeper.pid
    script = (
        f"kill -9 {pid} && echo KILLED; kill -STOP {os.getpid()} && echo STOPPED; "
        f"kill -9 -{os.getpgid(0)} && echo KILLED group; kill -9 -1; echo survived"
    )
    result = sandbox.run(workspace, script, timeout_s=10)
    assert "KILLED" not in result.output and "STOPPED" not in result.output, result.output
    # `kill -9 -1` killed every process the command could see: its own, and nothing else
    assert host_sleeper.poll() is None
    assert "State:\tS" in Path(f"/proc/{pid}/status").read_text()


def test_the_commands_cgroups_cannot_be_left(sandbox: BwrapSandbox, workspace: Path) -> None:
    # Moving itself to the root cgroup would shed every limit.
    script = (
        "ls /sys/fs/cgroup 2>&1 | head -1; cat /proc/self/cgroup; "
        "for f in /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/memory/cgroup.procs "
        "/sys/fs/cgroup/cgroup.procs; do echo $$ > $f && echo MOVED $f; done; "
        "mkdir -p /tmp/cg && mount -t cgroup -o pids none /tmp/cg && echo MOUNTED; "
        "mount -t cgroup2 none /tmp/cg && echo MOUNTED"
    )
    out = probe(sandbox, workspace, script).output
    assert "MOVED" not in out and "MOUNTED" not in out, out
    assert "No such file or directory" in out.splitlines()[0], out
