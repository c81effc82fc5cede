"""Escape battery: each probe is an attack from inside the sandbox that must fail, and leave
the host unharmed. Canary secrets sit where the controller keeps its own: in its environment
and in a file under a stand-in for ERRAND_HOME, which also holds the workspace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import BwrapSandbox

CANARY = "canary-5e1f0c2b"


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(memory_mb=256, pids=64, output_limit_bytes=64_000)


@pytest.fixture
def errand_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ERRAND_CANARY_KEY", CANARY)
    home = tmp_path / "errand_home"
    (home / "workspaces" / "task1").mkdir(parents=True)
    (home / "secret.key").write_text(CANARY)
    return home


@pytest.fixture
def workspace(errand_home: Path) -> Path:
    return errand_home / "workspaces" / "task1"


@pytest.fixture
def host_sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def probe(sandbox: BwrapSandbox, workspace: Path, script: str, network: bool = False) -> str:
    result = sandbox.run(workspace, script, network=network, timeout_s=30)
    assert not result.timed_out, result.output
    return result.output


def python(code: str) -> str:
    return f"python3 - <<'EOF'\n{code}\nEOF"


def test_secrets_in_the_controllers_environment_stay_out(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    out = probe(sandbox, workspace, "env; for f in /proc/*/environ; do tr '\\0' '\\n' < $f; done")
    assert CANARY not in out
    assert "ERRAND_CANARY_KEY" not in out


def test_host_proc_is_not_visible(
    sandbox: BwrapSandbox, workspace: Path, host_sleeper: subprocess.Popen[bytes]
) -> None:
    out = probe(sandbox, workspace, "ls /proc | grep -c '^[0-9]'; ls /proc; cat /proc/1/cmdline")
    assert int(out.split()[0]) < 10  # only the sandbox's own few processes
    assert f"\n{host_sleeper.pid}\n" not in out or host_sleeper.pid < 10
    assert str(os.getpid()) not in out.split()


def test_errand_home_is_out_of_reach_even_by_symlink(
    sandbox: BwrapSandbox, workspace: Path, errand_home: Path
) -> None:
    script = (
        f"cat {errand_home}/secret.key; cat /workspace/../../secret.key; "
        f"ln -s {errand_home}/secret.key leak1; cat leak1; "
        "ln -s /root/.bashrc leak2; cat leak2; ln -s /proc/1/root/etc/shadow leak3; cat leak3; "
        "cat /etc/shadow; ls /etc/ssl/private"
    )
    out = probe(sandbox, workspace, script)
    assert CANARY not in out
    assert "root:" not in out  # no shadow file, no host /etc/passwd contents
    assert (workspace / "leak1").is_symlink()  # the link exists; it just leads nowhere inside


def test_writes_outside_the_workspace_fail_and_the_host_is_untouched(
    sandbox: BwrapSandbox, workspace: Path, errand_home: Path
) -> None:
    prefix = Path(sys.base_prefix).resolve()
    targets = ["/usr/bin/python3", "/etc/hosts", "/pwned", f"{prefix}/bin/pwned", "/root/pwned"]
    before = {t: (Path(t).stat().st_mtime if Path(t).exists() else None) for t in targets}
    script = "; ".join(f"echo pwned > {t} && echo WROTE {t}" for t in targets)
    script += f"; echo pwned > {errand_home}/secret.key && echo WROTE home"
    out = probe(sandbox, workspace, script)
    assert "WROTE" not in out
    after = {t: (Path(t).stat().st_mtime if Path(t).exists() else None) for t in targets}
    assert after == before
    assert (errand_home / "secret.key").read_text() == CANARY


@pytest.mark.parametrize("network", [False, True])
def test_host_services_are_unreachable(
    sandbox: BwrapSandbox, workspace: Path, network: bool
) -> None:
    with socket.socket() as loopback, socket.socket() as everywhere:
        loopback.bind(("127.0.0.1", 0))
        everywhere.bind(("0.0.0.0", 0))
        loopback.listen()
        everywhere.listen()
        port = loopback.getsockname()[1]
        targets = [("127.0.0.1", port), ("10.0.2.2", port)]
        targets += [(ip, everywhere.getsockname()[1]) for ip in _host_addresses()]
        code = (
            "import socket\n"
            f"for host, port in {targets!r}:\n"
            "    s = socket.socket(); s.settimeout(3)\n"
            "    print(host, 'CONNECTED' if s.connect_ex((host, port)) == 0 else 'blocked')\n"
        )
        out = probe(sandbox, workspace, python(code), network=network)
    assert "CONNECTED" not in out
    assert out.count("blocked") == len(targets), out


def _host_addresses() -> list[str]:
    done = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True)
    return [
        a["local"]
        for link in json.loads(done.stdout)
        for a in link.get("addr_info", [])
        if not a["local"].startswith("127.")
    ]


def test_raw_sockets_mount_and_new_user_namespaces_are_refused(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    code = (
        "import socket\n"
        "try:\n"
        "    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
        "    print('RAW OK')\n"
        "except PermissionError:\n"
        "    print('raw refused')\n"
    )
    script = (
        f"{python(code)}\n"
        "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m && echo 'MOUNT OK'\n"
        "unshare -U true && echo 'USERNS OK'\n"
        "unshare -r true && echo 'USERNS OK'\n"
        "unshare -n true && echo 'NETNS OK'\n"
        "grep CapEff /proc/self/status\n"
    )
    out = probe(sandbox, workspace, script)
    assert "raw refused" in out
    assert "OK" not in out
    assert "CapEff:\t0000000000000000" in out


def test_host_processes_cannot_be_killed_or_traced(
    sandbox: BwrapSandbox, workspace: Path, host_sleeper: subprocess.Popen[bytes]
) -> None:
    pid = host_sleeper.pid
    code = (
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"print('ptrace', libc.ptrace(16, {pid}, 0, 0), ctypes.get_errno())\n"  # PTRACE_ATTACH
        "try:\n"
        f"    os.kill({pid}, signal.SIGKILL)\n"
        "    print('KILLED')\n"
        "except ProcessLookupError:\n"
        "    print('no such process')\n"
    )
    out = probe(sandbox, workspace, python(code) + f"\nkill -9 {pid} || echo kill failed")
    assert "KILLED" not in out and "kill failed" in out
    assert "ptrace -1" in out
    assert host_sleeper.poll() is None


def test_a_fork_bomb_is_contained(workspace: Path) -> None:
    small = BwrapSandbox(pids=48)
    # The sleep keeps the namespace (and the bomb) alive until the limit is reached.
    result = small.run(workspace, ":(){ :|:& };:; sleep 1", timeout_s=15)
    assert result.limit == "pids", result.output[-500:]
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork


def test_ten_megabytes_on_one_line_are_cut(sandbox: BwrapSandbox, workspace: Path) -> None:
    lines: list[str] = []
    script = "head -c 10000000 /dev/zero | tr '\\0' x; echo; echo end"
    result = sandbox.run(workspace, script, on_output=lines.append)
    assert result.exit_code == 0 and result.truncated
    assert len(result.output) < 10_000
    assert result.output.endswith("end\n")
    assert "line cut" in result.output
    assert max(len(line) for line in lines) < 4100


def test_binary_junk_is_decoded_safely(sandbox: BwrapSandbox, workspace: Path) -> None:
    result = sandbox.run(
        workspace, "head -c 1000000 /dev/urandom; printf '\\xff\\xfe\\x00\\x1b[2J'; echo; echo ok"
    )
    assert result.exit_code == 0
    assert result.output.endswith("ok\n")
    assert "\ufffd" in result.output
