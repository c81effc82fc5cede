"""The terminal experience through the real CLI: in a pseudo-terminal (the live view) and in
pipes (stamped lines), with a local OpenAI-compatible model, real git and the real sandbox.
Reviews, exit codes, live progress while a slow suite runs, Ctrl-C, retry."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ERRAND, ROOT, errand_env, release_workspaces
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools
from tests.support.gitrepo import make_repo

pytestmark = pytest.mark.e2e

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
CALC = "def add(a: int, b: int) -> int:\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add() -> None:\n    assert add(2, 3) == 5\n"
SLOW = "import time\n\n\ndef test_slow() -> None:\n    time.sleep(5)\n"
PLAN_A = {
    "summary": "Add mul() to calc.py.",
    "steps": [
        {"title": "Write mul", "details": "a * b", "files": ["calc.py"]},
        {"title": "Test it", "files": ["tests/test_mul.py (new)"]},
    ],
}
PLAN_B = {"summary": "Only add mul().", "steps": [{"title": "Write mul", "files": ["calc.py"]}]}
MUL = "\n\ndef mul(a: int, b: int) -> int:\n    return a * b\n"


def route(request: dict[str, Any]) -> Reply:
    tools, text = offered_tools(request), json.dumps(request["messages"])
    if "submit_plan" in tools:
        return Reply(tool_calls=[("submit_plan", PLAN_B if "rejected" in text else PLAN_A)])
    if "finish" in tools:
        if sum(1 for m in request["messages"] if m["role"] == "assistant"):
            return Reply(tool_calls=[("finish", {"summary": "done"})])
        if "asks for changes" in text:
            edit = {"path": "calc.py", "search": "def mul(", "replace": "def multiply("}
        else:
            edit = {"path": "calc.py", "search": CALC.rstrip("\n"), "replace": CALC + MUL}
        return Reply(tool_calls=[("edit", edit)])
    return Reply(content="I added a mul function. All tests pass.")


class Cli:
    def __init__(self, home: Path, cwd: Path, env: Mapping[str, str]) -> None:
        self.home, self.cwd, self.env = home, cwd, errand_env(home, env)

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ERRAND, *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def lines(self, *args: str, timeout: float = 240) -> tuple[int, list[tuple[float, str]]]:
        """Runs it with stdout a pipe, noting when each line arrived."""
        proc = subprocess.Popen(
            [*ERRAND, *args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        got: list[tuple[float, str]] = []
        deadline = time.monotonic() + timeout
        for line in proc.stdout:
            got.append((time.monotonic(), line.rstrip("\n")))
            assert time.monotonic() < deadline, "timed out"
        return proc.wait(timeout=30), got

    def tty(
        self, *args: str, timeout: float = 240, interrupt_on: str = ""
    ) -> tuple[int, list[tuple[float, str]]]:
        """Runs it in a pseudo-terminal (120 columns); returns the exit code and the screen
        output as (arrival time, text without escape codes) pieces. With `interrupt_on`, sends
        SIGINT (as Ctrl-C does) once that text has appeared."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {**self.env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        proc = subprocess.Popen(
            [*ERRAND, *args], env=env, cwd=self.cwd, stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        got: list[tuple[float, str]] = []
        deadline, sent = time.monotonic() + timeout, False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                got.append((time.monotonic(), ANSI.sub("", data.decode(errors="replace"))))
            if interrupt_on and not sent and interrupt_on in "".join(t for _, t in got):
                proc.send_signal(signal.SIGINT)
                sent = True
            if proc.poll() is not None and not ready:
                break
        os.close(master)
        return proc.wait(timeout=30), got


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home and one repository for the module, so the second test finds the dependency
    environment cached (a fresh one means a pip install)."""
    root = tmp_path_factory.mktemp("terminal")
    make_repo(
        root / "calc",
        {
            "calc.py": CALC,
            "tests/test_calc.py": TESTS,
            "tests/test_slow.py": SLOW,
            "pytest.ini": "[pytest]\npythonpath = .\n",
            "requirements.txt": "pytest\n",
        },
    )
    return root


@pytest.fixture
def llm() -> Any:
    with FakeOpenAI(router=route) as server:
        yield server


def make_cli(tmp_path: Path, llm: FakeOpenAI) -> Cli:
    env = {"ERRAND_MODEL_API_BASE": llm.base_url, "ERRAND_MODEL": "openai/fake-coder"}
    return Cli(tmp_path / "home", tmp_path, env)


@pytest.fixture
def served(work: Path, llm: FakeOpenAI) -> Iterator[Cli]:
    """The CLI with `errand up` running on its home (one job pool for every command)."""
    cli = make_cli(work, llm)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [*ERRAND, "up", "--port", str(port)],
        env=cli.env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (cli.home / "server.json").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "errand up did not start"
            time.sleep(0.2)
        yield cli
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        release_workspaces(cli.home)


def test_review_loop_in_a_terminal_and_in_pipes(work: Path, llm: FakeOpenAI, served: Cli) -> None:
    cli = served
    # a relative --repo is the user's directory's, not the server's; the live view shows
    # the slow suite running
    code, pieces = cli.tty("task", "create", "--repo", "calc", "--prompt", "add mul", "--wait")
    screen = "".join(t for _, t in pieces)
    assert code == 3, screen[-3000:]
    task_id = re.search(r"created (t_[0-9a-f]+)", screen)
    assert task_id, screen[:2000]
    tid = task_id[1]
    elapsed = [int(s) for s in re.findall(r"pytest.{0,140}\((\d+) s\)", screen)]
    assert elapsed and max(elapsed) >= 2, screen[-4000:]  # progress while it ran
    assert "Plan: Add mul() to calc.py." in screen
    assert "1. Write mul" in screen and "files: tests/test_mul.py (new)" in screen
    assert f"errand task approve {tid} --plan" in screen
    shown = json.loads(cli.run("task", "show", tid, "--json").stdout)
    assert shown["repo"] == str(work / "calc") and shown["status"] == "plan_review"

    # reject: the model plans again, with its previous plan and the feedback
    proc = cli.run("task", "reject", tid, "--feedback", "keep it to mul only", "--wait")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Plan: Only add mul()." in proc.stdout
    replan = [r for r in llm.requests if "submit_plan" in offered_tools(r)][-1]
    assert "keep it to mul only" in json.dumps(replan) and "Add mul() to calc.py" in (
        json.dumps(replan)
    )

    # approve in a pipe: stamped lines, progress while the 5 s suite is silent, the diff
    code, lines = cli.lines("task", "approve", tid, "--plan", "--wait")
    out = "\n".join(t for _, t in lines)
    assert code == 3, out[-3000:]
    progress = [at for at, t in lines if re.search(r"\.\.\. .*pytest.* running for \d+ s", t)]
    done = [at for at, t in lines if "tests ran in" in t]
    assert progress and done and done[-1] - progress[0] >= 1.0, out[-3000:]
    assert not any("\x1b[" in t for _, t in lines)  # no escape codes in a pipe
    assert re.search(r"Diff: 1 file\(s\), \+\d+ -0", out) and re.search(r"calc.py  \+\d+ -0", out)
    assert "+def mul(a: int, b: int) -> int:" in out
    assert "no test fails because of the change" in out

    proc = cli.run("task", "request-changes", tid, "--feedback", "call it multiply", "--wait")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "+def multiply(a: int, b: int) -> int:" in proc.stdout
    again = [r for r in llm.requests if "finish" in offered_tools(r)]
    assert "call it multiply" in json.dumps(again[-2])

    raw = cli.run("task", "diff", tid)
    assert raw.returncode == 0 and raw.stdout.startswith("diff --git a/calc.py b/calc.py")
    assert "\x1b[" not in raw.stdout and "+def multiply" in raw.stdout

    proc = cli.run("task", "approve", tid, "--diff", "--wait", "--json")
    task = json.loads(proc.stdout)
    assert proc.returncode == 0 and task["status"] == "completed", proc.stderr[-2000:]
    assert cli.run("task", "show", tid).returncode == 0
    cancel = cli.run("task", "cancel", tid)
    assert cancel.returncode == 2 and "already completed" in cancel.stderr
    retry = cli.run("task", "retry", tid)
    assert retry.returncode == 2 and "only failed or cancelled" in retry.stderr
    usage = cli.run("task", "approve", tid)
    assert usage.returncode == 2 and "say what to approve" in usage.stderr
    assert cli.run("task", "frobnicate").returncode == 2
    listed = json.loads(cli.run("task", "list", "--json").stdout)
    assert [t["id"] for t in listed["tasks"]] == [tid]


def test_ctrl_c_then_cancel_then_retry(work: Path, llm: FakeOpenAI) -> None:
    cli = make_cli(work, llm)
    try:
        code, pieces = cli.tty(
            "task", "create", "--repo", "calc", "--prompt", "add mul", "--wait",
            interrupt_on="preparing",
        )  # fmt: skip
        screen = "".join(t for _, t in pieces)
        assert code == 130, screen[-2000:]
        tid = re.search(r"created (t_[0-9a-f]+)", screen)
        assert tid, screen
        assert "stopped following" in screen and f"errand task cancel {tid[1]}" in screen

        cancel = cli.run("task", "cancel", tid[1])
        assert cancel.returncode == 0, cancel.stderr  # done as asked
        shown = cli.run("task", "show", tid[1])
        assert shown.returncode == 0 and "cancelled" in shown.stdout
        assert f"errand task retry {tid[1]}" in shown.stderr

        proc = cli.run("task", "retry", tid[1], "--json")
        task = json.loads(proc.stdout)
        assert proc.returncode == 3 and task["status"] == "plan_review", proc.stderr[-3000:]
        assert task["plan"]["summary"] == "Add mul() to calc.py." and task["error"] is None
    finally:
        release_workspaces(cli.home)
