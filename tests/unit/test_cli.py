"""The CLI's parts that need no task: help texts, paths, rendering, whole output lines, and a
server file pointing at something that is not Errand."""

from __future__ import annotations

import argparse
import io
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.cli import build_parser, main
from shared.cli.common import absolute_repo
from shared.cli.live import PlainView
from shared.cli.render import split_diff, task_view, verdict_view
from shared.domain import Event, EventKind
from shared.stack import ServerInfo, write_server_file

DIFF = (
    "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n"
    " def add(a, b):\n-    return a - b\n+    return a + b\n+# done\n"
    "diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n"
    "@@ -0,0 +1 @@\n+hello\n"
)


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subparsers(sub)


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    missing = []
    for p in [parser, *subparsers(parser)]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{p.prog} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help and action.dest != "help":
                missing.append(f"{p.prog} {action.dest}")
    assert missing == []


def test_version_and_exit_codes_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("errand ")
    with pytest.raises(SystemExit):
        main(["task", "retry", "--help"])
    out = capsys.readouterr().out
    assert "--from-start" in out and "3    stopped at a gate" in out and "130" in out


def test_local_paths_become_absolute_and_urls_stay(tmp_path: Path) -> None:
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert absolute_repo("calc") == str(tmp_path / "calc")
        assert absolute_repo("./a/../b") == str(tmp_path / "b")
    finally:
        os.chdir(cwd)
    for remote in ("https://github.com/o/r.git", "git@github.com:o/r.git", "file:///srv/r"):
        assert absolute_repo(remote) == remote


def test_diff_is_split_per_file_with_counts() -> None:
    assert [(f, a, r) for f, a, r, _ in split_diff(DIFF)] == [("calc.py", 2, 1), ("new.txt", 1, 0)]


def test_the_verdict_is_in_words() -> None:
    tests = {
        "command": "pytest",
        "baseline": {"passed": 2, "failed": 1, "errors": 0, "skipped": 0},
        "after": {"passed": 2, "failed": 1, "errors": 0, "skipped": 0},
        "newly_failing": ["t::b"],
        "newly_passing": ["t::a"],
    }
    text = "\n".join(str(r) for r in verdict_view(tests))
    assert "before the change: 2 passed, 1 failed" in text
    assert "1 test(s) fail because of the change" in text
    assert "newly failing: t::b" in text and "fixed by the change: t::a" in text


def test_a_task_renders_without_python_reprs() -> None:
    from rich.console import Console

    task = {
        "id": "t_1",
        "status": "diff_review",
        "repo": "/r",
        "base_branch": "main",
        "prompt": "fix it",
        "model": "openai/x",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.01},
        "plan": {"summary": "s", "steps": [{"title": "edit", "details": "", "files": ["calc.py"]}]},
        "diff": DIFF,
        "conformance": {"unplanned_files": ["new.txt"], "untouched_steps": []},
        "tests": {"command": "pytest", "baseline": {"passed": 1}, "after": {"passed": 2}},
        "error": None,
        "audio": {"url": "", "path": "/a.mp3", "duration_s": 3.0, "transcript": "I fixed it."},
    }
    out = Console(file=io.StringIO(), width=100, color_system=None)
    out.print(task_view(task))
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "1. edit" in text and "files: calc.py" in text
    assert "calc.py  +2 -1" in text and "files the plan did not name: new.txt" in text
    assert "I fixed it." in text and "/a.mp3" in text
    assert "{" not in text.replace(DIFF, "")  # no dicts printed


def event(i: int, kind: EventKind, **data: object) -> Event:
    return Event(id=i, task_id="t_1", kind=kind, data=data, created_at=datetime.now(UTC))  # type: ignore[arg-type]


def test_plain_view_prints_whole_lines_from_chunks() -> None:
    out = io.StringIO()
    view = PlainView(out)
    for i, chunk in enumerate(["tests/test_a.py ..", "..F\ntests/te", "st_b.py .\n", "tail"]):
        view.event(event(i, EventKind.OUTPUT, text=chunk, elapsed_s=i, command="pytest"))
    view.event(event(9, EventKind.OUTPUT, text="", elapsed_s=5.0, command="pytest"))
    view.event(event(10, EventKind.LOG, message="tests ran"))
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "   | tests/test_a.py ....F",
        "   | tests/test_b.py .",
        "   ... pytest running for 5 s",
        "   | tail",
        "tests ran",
    ]


class NotErrand(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_server_file_pointing_at_another_program_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), NotErrand)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        home = tmp_path / "home"
        url = f"http://127.0.0.1:{http.server_address[1]}"
        write_server_file(home, ServerInfo(url=url, pid=1, token="x"))
        monkeypatch.setenv("ERRAND_HOME", str(home))
        assert main(["task", "list"]) == 1
        err = capsys.readouterr().err
        assert "answered 200 with something other than Errand's JSON" in err
    finally:
        http.shutdown()
