"""Escape battery, resources: every way of starving the host is bounded, and nothing a command
starts outlives it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import TIMEOUT_EXIT_CODE, BwrapSandbox
from shared.adapters.workspace_fs import WorkspaceVolumes
from tests.security.probes import Host, host_processes, probe, python


@pytest.fixture(params=["loop", "tmpfs"])
def volume(request: pytest.FixtureRequest, host: Host) -> Iterator[tuple[Path, str]]:
    volumes = WorkspaceVolumes(48, backend=request.param)
    path = host.workspace.with_name("task-volume")
    volumes.provision(path)
    yield path, request.param
    volumes.release(path)
    assert not path.exists() and not path.with_name("task-volume.img").exists()


def test_a_fork_bomb_is_contained(workspace: Path) -> None:
    small = BwrapSandbox(pids=48)
    # The sleep keeps the namespace (and the bomb) alive until the limit is reached.
    result = small.run(workspace, ":(){ :|:& };:; sleep 1", timeout_s=15)
    assert result.limit == "pids", result.output[-500:]
    assert "limit of 48 processes" in result.output
    # contained either way: the bomb ended with its sandbox or was killed at the timeout
    assert result.duration_s < 20


def test_a_memory_bomb_is_killed_at_its_limit(workspace: Path) -> None:
    small = BwrapSandbox(memory_mb=96)
    bomb = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n"
    started = time.monotonic()
    result = small.run(workspace, python(bomb), timeout_s=30)
    assert result.limit == "memory" and result.exit_code != 0, result.output
    assert "more than its 96 MB" in result.output
    assert time.monotonic() - started < 10


def test_a_disk_filler_hits_the_workspace_quota(
    sandbox: BwrapSandbox, volume: tuple[Path, str]
) -> None:
    path, backend = volume
    result = probe(sandbox, path, "dd if=/dev/zero of=/workspace/fill bs=1M count=500; echo $?")
    assert "No space left on device" in result.output, result.output
    assert result.output.split()[-1] == "1"
    written = (path / "fill").stat().st_size
    assert 30 << 20 < written <= 48 << 20, written
    if backend == "loop":  # what the host's disk gave: the image's blocks, within the quota
        image = path.with_name(path.name + ".img")
        assert image.stat().st_blocks * 512 <= 49 << 20
    # the host side can still write beside it
    (path.parent / "after").write_text("fine")


def test_a_tmp_filler_hits_the_tmp_size(workspace: Path) -> None:
    small = BwrapSandbox(tmp_mb=32, memory_mb=256)
    result = probe(small, workspace, "dd if=/dev/zero of=/tmp/fill bs=1M count=200; ls -l /tmp")
    assert "No space left on device" in result.output, result.output
    assert result.limit == ""


def test_a_cpu_spinner_is_throttled_and_killed_at_its_timeout(workspace: Path) -> None:
    quarter = BwrapSandbox(cpus=0.25)
    started = time.monotonic()
    result = quarter.run(
        workspace, "for i in 1 2 3 4; do (while :; do :; done) & done; wait", timeout_s=1.5
    )
    assert result.timed_out and result.exit_code == TIMEOUT_EXIT_CODE
    assert "0.25-CPU quota held it back" in result.output, result.output
    assert time.monotonic() - started < 5
    assert host_processes("while :; do :; done") == []


def test_a_process_ignoring_sigterm_is_killed_at_the_timeout(workspace: Path) -> None:
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('immortal', flush=True)\n"
        "time.sleep(3600.25)\n"
    )
    (workspace / "immortal.py").write_text(code)
    sandbox = BwrapSandbox()
    started = time.monotonic()
    result = sandbox.run(workspace, "trap '' TERM HUP INT; python3 immortal.py", timeout_s=1)
    assert result.timed_out and result.output.startswith("immortal\n")
    assert time.monotonic() - started < 5
    assert host_processes("immortal.py") == []


def test_a_daemonised_orphan_is_gone_when_the_command_returns(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    # The classic double fork: the daemon is nobody's child, in its own session and group.
    code = (
        "import os, sys, time\n"
        "if os.fork():\n"
        "    os._exit(0)\n"
        "os.setsid()\n"
        "if os.fork():\n"
        "    os._exit(0)\n"
        "for fd in range(3):\n"
        "    os.close(fd)\n"
        "sys.argv[0] = 'errand-daemon-probe'\n"
        "time.sleep(3600.5)\n"
    )
    (workspace / "daemon.py").write_text(code)
    script = "python3 daemon.py errand-daemon-probe; nohup sleep 3600.75 >/dev/null 2>&1 & disown"
    result = probe(sandbox, workspace, script)
    assert result.exit_code == 0, result.output
    assert host_processes("errand-daemon-probe") == []
    assert host_processes("3600.75") == []


def test_ten_megabytes_on_one_line_are_cut(sandbox: BwrapSandbox, workspace: Path) -> None:
    lines: list[str] = []
    script = "head -c 10000000 /dev/zero | tr '\\0' x; echo; echo end"
    result = sandbox.run(workspace, script, on_output=lines.append)
    assert result.exit_code == 0 and result.truncated and result.limit == "output"
    assert len(result.output) < 10_000
    assert result.output.endswith("end\n")
    assert "line cut: 9996000 more bytes" in result.output, result.output[:300]
    assert max(len(line) for line in lines) < 4100


def test_a_flood_of_output_is_capped_quickly(sandbox: BwrapSandbox, workspace: Path) -> None:
    started = time.monotonic()
    result = sandbox.run(workspace, "yes errand | head -c 300000000; echo done")
    assert time.monotonic() - started < 15
    assert result.truncated and result.output.endswith("done\n")
    assert len(result.output.encode()) < 70_000


def test_binary_output_is_decoded_safely(sandbox: BwrapSandbox, workspace: Path) -> None:
    result = sandbox.run(
        workspace,
        "head -c 1000000 /dev/urandom; printf '\\xff\\xfe\\x00\\x1b[2J\\x1b]0;title\\x07'; "
        "echo; echo ok",
    )
    assert result.exit_code == 0
    assert result.output.endswith("ok\n")
    assert "\ufffd" in result.output
    result.output.encode("utf-8")  # whatever came out, it is valid text now
