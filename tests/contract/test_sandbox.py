"""The Sandbox contract, against real bubblewrap, cgroups and slirp4netns."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import TIMEOUT_EXIT_CODE, BwrapSandbox
from shared.adapters.cgroup_limits import CgroupLimits, Limits
from shared.adapters.sandbox_output import CappedOutput
from shared.errors import InvalidInput, SandboxError
from shared.ports import Sandbox

PYPI = "https://pypi.org/simple/pip/"


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(memory_mb=512, pids=128)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def loopback_listener() -> Iterator[int]:
    """A real server on the host's 127.0.0.1 that accepts anything; yields its port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def host_processes(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def pypi_resolves() -> bool:
    try:
        socket.getaddrinfo("pypi.org", 443)
    except OSError:
        return False
    return True


def connect_script(host: str, port: int) -> str:
    return (
        'python3 -c "import socket; s = socket.socket(); s.settimeout(3); '
        f"print('CONNECTED' if s.connect_ex(('{host}', {port})) == 0 else 'refused')\""
    )


def test_is_a_sandbox(sandbox: BwrapSandbox) -> None:
    port: Sandbox = sandbox
    assert port is sandbox
    assert sandbox.limits_active == ["cpu", "memory", "pids"]


def test_runs_a_command_and_captures_output_and_exit_code(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    lines: list[str] = []
    result = sandbox.run(
        workspace, "echo out; echo err >&2; pwd; id -u; hostname; exit 7", on_output=lines.append
    )
    assert result.exit_code == 7
    assert result.output == "out\nerr\n/workspace\n1000\nsandbox\n"
    assert lines == ["out", "err", "/workspace", "1000", "sandbox"]
    assert not result.timed_out and not result.truncated and result.limit == ""


def test_runs_in_the_given_cwd_with_extra_env(sandbox: BwrapSandbox, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    result = sandbox.run(
        workspace, 'pwd; echo "$GREETING"', cwd="/workspace/sub", env={"GREETING": "hello"}
    )
    assert result.output == "/workspace/sub\nhello\n"


def test_workspace_writes_persist_on_the_host_owned_by_the_controller(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    result = sandbox.run(workspace, "mkdir -p a/b && echo data > a/b/file && echo tmp > /tmp/t")
    assert result.exit_code == 0
    written = workspace / "a" / "b" / "file"
    assert written.read_text() == "data\n"
    assert written.stat().st_uid == os.getuid()
    # /tmp is private to each command
    assert sandbox.run(workspace, "cat /tmp/t").exit_code != 0


def test_cannot_write_outside_the_workspace(sandbox: BwrapSandbox, workspace: Path) -> None:
    for target in ("/usr/evil", "/etc/evil", "/evil", "/etc/passwd", "/bin/evil"):
        result = sandbox.run(workspace, f"echo x > {target}")
        assert result.exit_code != 0, target
        assert not Path(target).exists() or target == "/etc/passwd"
    assert "evil" not in Path("/etc/passwd").read_text()


def test_environment_is_cleared(
    sandbox: BwrapSandbox, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRAND_CANARY_TOKEN", "canary-7f3a9")
    result = sandbox.run(workspace, "env; cat /proc/*/environ | tr '\\0' '\\n'")
    assert "canary-7f3a9" not in result.output
    assert "PATH=" in result.output and "HOME=/tmp/home" in result.output


def test_cannot_read_root_or_the_callers_files(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.txt").write_text("s3cret")
    workspace = home / "workspace"
    workspace.mkdir()
    result = sandbox.run(workspace, f"cat {home}/secret.txt; cat /workspace/../secret.txt")
    assert "s3cret" not in result.output
    assert result.exit_code != 0
    listing = sandbox.run(workspace, "ls -A /root; ls -A /root/.pyenv 2>/dev/null")
    assert "bashrc" not in listing.output and ".ssh" not in listing.output


def test_timeout_kills_the_whole_tree_including_a_daemonized_orphan(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    marker = "4321.5"
    started = time.monotonic()
    result = sandbox.run(
        workspace,
        f"setsid nohup sleep {marker} >/dev/null 2>&1 & echo started; sleep 100",
        timeout_s=1,
    )
    assert time.monotonic() - started < 5
    assert result.timed_out and result.limit == "timeout"
    assert result.exit_code == TIMEOUT_EXIT_CODE
    assert result.output.startswith("started\n")
    assert "killed after 1 s" in result.output
    assert host_processes(marker) == []


def test_processes_left_behind_die_with_the_command(sandbox: BwrapSandbox, workspace: Path) -> None:
    marker = "4321.6"
    result = sandbox.run(workspace, f"setsid nohup sleep {marker} >/dev/null 2>&1 &")
    assert result.exit_code == 0 and not result.timed_out
    assert host_processes(marker) == []


def test_output_is_capped_keeping_head_and_tail(workspace: Path) -> None:
    small = BwrapSandbox(output_limit_bytes=2000, max_line_chars=50)
    lines: list[str] = []
    result = small.run(
        workspace, "seq 1 100000; python3 -c 'print(\"y\" * 500)'", on_output=lines.append
    )
    assert result.exit_code == 0
    assert result.truncated and result.limit == "output"
    assert result.output.startswith("1\n2\n3\n")
    assert "99999\n100000\n" in result.output
    assert " bytes truncated ...]" in result.output
    assert "y" * 50 + " [... line cut: 450 more bytes ...]" in result.output
    assert len(result.output) < 2200
    assert lines == result.output.splitlines()


def test_capped_output_reassembles_lines_split_anywhere() -> None:
    lines: list[str] = []
    output = CappedOutput(1000, 10, lines.append)
    data = "héllo wörld\nshort\nlast".encode()
    for i in range(len(data)):  # one byte at a time: every split, inside characters too
        output.feed(data[i : i + 1])
    output.close()
    assert lines == ["héllo wörl [... line cut: 1 more bytes ...]", "short", "last"]
    assert output.text() == "\n".join(lines)


def test_capped_output_accounts_for_every_byte_it_drops() -> None:
    lines: list[str] = []
    output = CappedOutput(200, 50, lines.append)
    data = b"".join(b"line-%05d\n" % i for i in range(5000))
    for i in range(0, len(data), 777):  # chunks that split lines
        output.feed(data[i : i + 777])
    output.close()
    text = output.text()
    assert lines == text.splitlines()
    head, _, tail = text.partition("[... ")
    dropped = int(tail.split(" bytes truncated")[0])
    tail = tail.split("...]\n", 1)[1]
    assert len(head) + dropped + len(tail) == len(data)
    assert head.startswith("line-00000\n") and tail.endswith("line-04999\n")
    assert all(line.startswith("line-") and len(line) == 10 for line in tail.splitlines())


def test_capped_output_cuts_a_huge_last_line_in_the_tail() -> None:
    output = CappedOutput(100, 20, None)
    output.feed(b"a\n" * 100)
    output.feed(b"z" * 5_000_000)
    output.close()
    assert output.truncated
    assert output.text().endswith("z" * 20 + " [... line cut: 30 more bytes ...]")


def test_binary_output_does_not_break_anything(sandbox: BwrapSandbox, workspace: Path) -> None:
    result = sandbox.run(workspace, "head -c 200000 /dev/urandom; echo; echo done")
    assert result.exit_code == 0
    assert result.output.endswith("done\n")


def test_no_network_by_default(
    sandbox: BwrapSandbox, workspace: Path, loopback_listener: int
) -> None:
    result = sandbox.run(workspace, connect_script("127.0.0.1", loopback_listener))
    assert result.output.strip() == "refused"
    links = sandbox.run(workspace, "ls /sys/class/net 2>/dev/null || ip -o link | wc -l")
    assert links.output.strip() in ("1", "lo", "")


def test_memory_limit_kills_the_command(workspace: Path) -> None:
    small = BwrapSandbox(memory_mb=64)
    result = small.run(workspace, "python3 -c 'b = bytearray(128 * 1024 * 1024); print(len(b))'")
    assert result.limit == "memory"
    assert result.exit_code != 0
    assert "more than its 64 MB" in result.output


def test_pids_limit_bounds_a_fork_bomb(workspace: Path) -> None:
    small = BwrapSandbox(pids=32)
    bomb = (
        "import os, time\n"
        "failed = 0\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(2)\n"
        "            os._exit(0)\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "print('failed', failed)\n"
    )
    (workspace / "bomb.py").write_text(bomb)
    result = small.run(workspace, "python3 bomb.py", timeout_s=20)
    assert result.limit == "pids"
    failed = int(result.output.split()[1])
    assert failed >= 100 - 32


# Two processes spin for `seconds` of wall time; prints the CPU time they got per wall second.
SPINNERS = """
import os, time
started = time.monotonic()
for _ in range(2):
    if os.fork() == 0:
        end = time.monotonic() + {seconds}
        while time.monotonic() < end:
            pass
        os._exit(0)
print("spinning", flush=True)
for _ in range(2):
    os.wait()
times = os.times()
print(round((times.children_user + times.children_system) / (time.monotonic() - started), 2))
"""


def test_cpu_quota_is_set_on_the_commands_cgroup(workspace: Path) -> None:
    quarter = BwrapSandbox(cpus=0.25)
    seen: list[str] = []

    def read_quota(line: str) -> None:
        if line == "spinning":
            for parent in _cgroup_parents("cpu"):
                for group in parent.glob(f"errand-{os.getpid()}-*"):
                    for name in ("cpu.cfs_quota_us", "cpu.max"):
                        if (group / name).exists():
                            seen.append((group / name).read_text().split()[0])

    (workspace / "spin.py").write_text(SPINNERS.format(seconds=0.3))
    result = quarter.run(workspace, "python3 spin.py", on_output=read_quota)
    assert result.exit_code == 0, result.output
    assert seen == ["25000"]


def test_a_two_process_spinner_is_held_to_its_cpu_quota(workspace: Path) -> None:
    half = BwrapSandbox(cpus=0.5)
    (workspace / "spin.py").write_text(SPINNERS.format(seconds=1.0))
    result = half.run(workspace, "python3 spin.py", timeout_s=20)
    assert result.exit_code == 0, result.output
    used = float(result.output.split()[-1])
    # Unlimited, two spinners on a machine with two or more CPUs would get up to 2.0; the
    # quota allows 0.5 plus at most one period's worth of slack at the start.
    assert 0.05 < used <= 0.7, result.output


def test_a_cpu_bound_command_that_times_out_says_it_was_throttled(workspace: Path) -> None:
    tenth = BwrapSandbox(cpus=0.1)
    result = tenth.run(workspace, "while :; do :; done", timeout_s=1.5)
    assert result.timed_out and result.limit == "timeout"
    assert "its 0.1-CPU quota held it back for" in result.output, result.output


def test_limits_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match=r"cpus >= 0\.01"):
        BwrapSandbox(cpus=0)


def test_python_node_and_git_work(sandbox: BwrapSandbox, workspace: Path) -> None:
    script = (
        "python3 -c 'print(6 * 7)' && node -e 'console.log(6 * 7)' && "
        "git init -q repo && cd repo && echo hi > f && git add f && "
        "git -c user.name=n -c user.email=e@x commit -qm first && git log --format=%s"
    )
    result = sandbox.run(workspace, script)
    assert result.output == "42\n42\nfirst\n", result.output


def test_parallel_runs_are_independent(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    results: dict[int, str] = {}

    def one(i: int) -> None:
        workspace = tmp_path / f"w{i}"
        workspace.mkdir()
        results[i] = sandbox.run(workspace, f"sleep 0.2; echo {i} > f; cat f").output

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: f"{i}\n" for i in range(4)}


def test_cgroups_are_removed_after_each_run(sandbox: BwrapSandbox, workspace: Path) -> None:
    parents = {p for name in ("cpu", "memory", "pids") for p in _cgroup_parents(name)}
    assert len(parents) >= 1
    sandbox.run(workspace, "true")
    leftovers = [p for d in parents for p in d.glob(f"errand-{os.getpid()}-*")]
    assert leftovers == []


def _cgroup_parents(controller: str) -> list[Path]:
    """Where this process's groups for `controller` are: its v1 hierarchy, else the v2 one."""
    parents = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            parents.append(Path(f"/sys/fs/cgroup/{controller}{path}"))
        elif not names:
            parents += [Path(f"/sys/fs/cgroup{path}"), Path(f"/sys/fs/cgroup/unified{path}")]
    return [p for p in parents if p.is_dir()]


def test_groups_left_by_a_killed_controller_are_reaped_with_their_processes() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [p / f"errand-{dead.pid}-deadbeef" for p in _cgroup_parents("pids")]
    assert stale, "no pids hierarchy to test with"
    stale[0].mkdir()
    orphan = subprocess.Popen(["sleep", "60"])
    try:
        (stale[0] / "cgroup.procs").write_text(str(orphan.pid))
        BwrapSandbox()
        assert orphan.wait(timeout=5) == -9
        assert not stale[0].exists()
    finally:
        orphan.kill()
        orphan.wait()
        if stale[0].exists():
            stale[0].rmdir()


def test_starting_a_sandbox_is_fast(sandbox: BwrapSandbox, workspace: Path) -> None:
    sandbox.run(workspace, "true")
    started = time.monotonic()
    for _ in range(5):
        assert sandbox.run(workspace, "true").exit_code == 0
    assert (time.monotonic() - started) / 5 < 0.25


def test_missing_workspace_is_a_clear_error(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a directory"):
        sandbox.run(tmp_path / "nope", "true")


def test_a_bad_cwd_fails_with_bwraps_reason(sandbox: BwrapSandbox, workspace: Path) -> None:
    with pytest.raises(SandboxError, match="chdir"):
        sandbox.run(workspace, "true", cwd="/workspace/missing")


def test_cgroup_detection_explains_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    (tmp_path / "self" / "cgroup").write_text("0::/\n")
    limits = CgroupLimits(Limits(64 * 1024 * 1024, 16, 1.0), proc=tmp_path)
    assert limits.active == []
    assert set(limits.unavailable) == {"cpu", "memory", "pids"}
    assert "no cgroup hierarchy offers the memory controller" in limits.unavailable["memory"]


@pytest.mark.skipif(not pypi_resolves(), reason="pypi.org does not resolve on this host")
def test_network_reaches_registries_but_not_the_host(
    sandbox: BwrapSandbox, workspace: Path, loopback_listener: int
) -> None:
    fetch = (
        'python3 -c "import urllib.request; '
        f"print(urllib.request.urlopen('{PYPI}', timeout=20).status)\""
    )
    result = sandbox.run(
        workspace,
        f"{fetch}; {connect_script('127.0.0.1', loopback_listener)}; "
        f"{connect_script('10.0.2.2', loopback_listener)}",
        network=True,
        timeout_s=60,
    )
    assert result.output.splitlines() == ["200", "refused", "refused"], result.output
    assert [p for p in host_processes("slirp4netns") if _parent(p) == os.getpid()] == []


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.mark.skipif(not pypi_resolves(), reason="pypi.org does not resolve on this host")
def test_a_venv_in_the_workspace_can_install_from_pypi(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    script = (
        "python3 -m venv --without-pip /workspace/venv && "
        "python3 -m pip --python /workspace/venv/bin/python install -q "
        "--disable-pip-version-check --no-cache-dir six==1.16.0 && "
        "/workspace/venv/bin/python -c 'import six; print(six.__version__)'"
    )
    result = sandbox.run(workspace, script, network=True, timeout_s=120)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("1.16.0")
    assert (workspace / "venv" / "bin" / "python").exists()


def test_output_streams_live_and_silence_reports_progress(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    seen: list[tuple[float, str, float]] = []  # (when it arrived, text, elapsed_s)
    started = time.monotonic()
    script = "printf 'partial'; sleep 1.5; echo ' line'; sleep 3; echo end"
    result = sandbox.run(
        workspace,
        script,
        on_progress=lambda c: seen.append((time.monotonic() - started, c.text, c.elapsed_s)),
    )
    assert result.exit_code == 0 and result.output == "partial line\nend\n"
    assert "".join(text for _, text, _ in seen) == "partial line\nend\n"
    partial = next(at for at, text, _ in seen if text.startswith("partial"))
    assert partial < 1.4  # before the line was finished
    silent = [elapsed for _, text, elapsed in seen if text == ""]
    assert silent, "no progress while the command was silent for 3 s"
    gaps = [b - a for (a, _, _), (b, _, _) in itertools.pairwise(seen)]
    assert max(gaps) <= 2.1
    assert len(seen) < 15


def test_output_before_a_timeout_is_streamed(sandbox: BwrapSandbox, workspace: Path) -> None:
    texts: list[str] = []
    result = sandbox.run(
        workspace,
        "printf 'last words'; sleep 30",
        timeout_s=0.5,
        on_progress=lambda c: texts.append(c.text),
    )
    assert result.timed_out
    assert "".join(texts) == "last words"
