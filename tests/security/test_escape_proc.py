"""Escape battery, processes: the controller's environment, memory and /proc stay out of reach."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shared.adapters.bwrap_sandbox import BwrapSandbox
from tests.security.probes import ENV_CANARIES, Host, probe, python


def test_the_controllers_environment_is_not_inherited(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    out = probe(
        sandbox,
        workspace,
        "env; set; for f in /proc/*/environ; do tr '\\0' '\\n' < $f; done; "
        "tr '\\0' '\\n' < /proc/1/environ",
    ).output
    for name in ENV_CANARIES:
        assert name not in out
    assert "PATH=" in out  # the probe did read an environment


def test_the_controllers_proc_files_and_memory_are_unreachable(
    sandbox: BwrapSandbox, workspace: Path, host: Host
) -> None:
    pid = os.getpid()
    code = (
        "import os\n"
        f"pid = {pid}\n"
        "for name in ('environ', 'cmdline', 'maps', 'mem', 'root/etc/hostname'):\n"
        "    try:\n"
        "        with open(f'/proc/{pid}/{name}', 'rb') as f:\n"
        "            if name == 'mem':\n"
        "                f.seek(0x400000)\n"
        "            data = f.read(1 << 20)\n"
        "        print(name, 'OPENED', len(data))\n"
        "    except OSError as exc:\n"
        "        print(name, 'refused', exc.errno)\n"
        "try:\n"
        f"    fd = os.open('/proc/{pid}/mem', os.O_RDWR)\n"
        "    os.pwrite(fd, b'\\xcc', 0x400000)\n"
        "    print('mem WROTE')\n"
        "except OSError as exc:\n"
        "    print('mem write refused', exc.errno)\n"
    )
    out = probe(sandbox, workspace, python(code)).output
    assert "OPENED" not in out and "WROTE" not in out, out
    assert out.count("refused") == 6, out
    assert host.key_file.exists()


def test_only_the_sandboxs_own_processes_are_visible(
    sandbox: BwrapSandbox, workspace: Path, host_sleeper: subprocess.Popen[bytes]
) -> None:
    out = probe(
        sandbox, workspace, "ls /proc | grep -c '^[0-9]'; cat /proc/[0-9]*/cmdline | tr '\\0' ' '"
    ).output
    assert int(out.split()[0]) < 6, out  # bwrap's init, bash, ls/grep/cat: nothing of the host
    assert "sleep 300" not in out and "pytest" not in out, out


def test_there_is_no_terminal_to_inject_keystrokes_into(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    # CVE-2017-5226: TIOCSTI on an inherited terminal types commands into the host's shell.
    code = (
        "import fcntl, os, termios\n"
        "for fd in (0, 1, 2):\n"
        "    try:\n"
        "        fcntl.ioctl(fd, termios.TIOCSTI, b'x')\n"
        "        print(fd, 'INJECTED')\n"
        "    except OSError as exc:\n"
        "        print(fd, 'refused')\n"
        "try:\n"
        "    os.open('/dev/tty', os.O_RDWR)\n"
        "    print('tty OPENED')\n"
        "except OSError:\n"
        "    print('no tty')\n"
        "print('sid', os.getsid(0) == os.getpid())\n"
    )
    out = probe(sandbox, workspace, python(code)).output
    assert "INJECTED" not in out and "OPENED" not in out, out
    assert out.count("refused") == 3 and "no tty" in out


def test_kernel_settings_in_proc_are_read_only(sandbox: BwrapSandbox, workspace: Path) -> None:
    # core_pattern would run a program as the host's root on the next crash; `h` to
    # sysrq-trigger only prints help, so the probe is harmless even if the sandbox were not.
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    targets = {
        "/proc/sys/kernel/core_pattern": "|/workspace/pwn",
        "/proc/sys/vm/drop_caches": "1",
        "/proc/sysrq-trigger": "h",
        "/proc/sys/kernel/hostname": "pwned",
        "/proc/sys/user/max_user_namespaces": "100",
    }
    script = "; ".join(f"echo '{v}' > {t} && echo WROTE {t}" for t, v in targets.items())
    out = probe(sandbox, workspace, script).output
    assert "WROTE" not in out, out
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before
    assert "pwned" not in Path("/proc/sys/kernel/hostname").read_text()
