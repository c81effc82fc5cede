"""The web app in a real headless Chromium against the real local stack: `errand up` on a free
port with a private home, the OpenAI-compatible stand-in model and a fixture repository. One
task from the form to the spoken summary, with screenshots (web/test-artifacts/), no console
error or failed request, and no serious or critical accessibility violation."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.stack import read_server_file
from tests.browser.conftest import ARTIFACTS
from tests.e2e.conftest import ERRAND, ROOT, errand_env, release_workspaces
from tests.e2e.test_server import free_port
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools
from tests.support.gitrepo import git, make_python_repo_with_failing_test

pytestmark = pytest.mark.e2e

PLAN = {
    "summary": "Make add() return the sum.",
    "steps": [{"title": "Fix add in calc.py", "details": "a - b -> a + b", "files": ["calc.py"]}],
}
EDIT = {
    "path": "calc.py",
    "search": "def add(a: int, b: int) -> int:\n    return a - b",
    "replace": "def add(a: int, b: int) -> int:\n    return a + b",
}
SUMMARY = (
    "I fixed the add function, which subtracted its arguments. Before the change one of three "
    "tests failed. After it, all three tests pass. The fix is on a new branch."
)


def route(request: dict[str, Any]) -> Reply:
    tools = offered_tools(request)
    if "submit_plan" in tools:
        return Reply(tool_calls=[("submit_plan", PLAN)])
    if "bash" in tools:
        turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if turns == 0:
            return Reply(tool_calls=[("edit", EDIT)])
        return Reply(tool_calls=[("finish", {"summary": "add() fixed"})])
    return Reply(content=SUMMARY)


class Stack:
    def __init__(self, url: str, token: str, home: Path) -> None:
        self.url, self.token, self.home = url, token, home

    def event_ids(self, task_id: str) -> list[int]:
        """Every event of the task, read the way the CLI reads them."""
        ids: list[int] = []
        headers = {"authorization": f"Bearer {self.token}"}
        with httpx.stream(
            "GET", f"{self.url}/api/tasks/{task_id}/events", headers=headers, timeout=30
        ) as resp:
            for line in resp.iter_lines():
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
        return ids


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home, port = tmp_path / "home", free_port()
    with FakeOpenAI(router=route) as llm:
        env = errand_env(
            home,
            {
                "ERRAND_MODEL": "openai/fake-coder",
                "ERRAND_MODEL_API_BASE": llm.base_url,
                "ERRAND_MODEL_API_KEY": "sk-test",
            },
        )
        proc = subprocess.Popen(
            [*ERRAND, "up", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while (info := read_server_file(home)) is None or not _healthy(url):
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise AssertionError(f"errand up did not start:\n{proc.communicate()[0]}")
                time.sleep(0.2)
            yield Stack(url, info.token, home)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            release_workspaces(home)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(600)  # ~2 min alone; a loaded machine can double it
def test_a_task_from_the_form_to_the_spoken_summary(
    web_ready: Path, stack: Stack, tmp_path: Path
) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "BASE_URL": stack.url,
        "TOKEN": stack.token,
        "REPO": str(repo),
        "ARTIFACTS": str(ARTIFACTS),
    }
    started = time.monotonic()
    done = subprocess.run(
        ["node", "e2e/run.mjs"], cwd=web_ready, env=env, capture_output=True, text=True, timeout=480
    )
    took = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the browser run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1])
    print(f"browser run: {took:.1f} s, milestones (ms) {result.get('timings')}")
    assert "error" not in result, f"{result['error']}\nproblems: {result['problems']}"
    assert done.returncode == 0, done.stderr[-3000:]
    assert result["problems"] == [], "\n".join(result["problems"])

    # the branch the page shows exists in the repository
    assert result["branch"].startswith("errand/")
    assert result["branch"] in git(repo, "branch", "--list", result["branch"])
    # the audio loaded, has a real duration and played; its captions loaded
    audio = result["audio"]
    assert audio["duration"] > 2 and audio["played"] > 0.2 and audio["cues"] >= 3
    # every event the server has was shown exactly once, in order, live and after a reload
    server_ids = stack.event_ids(result["taskId"])
    assert result["shownIds"] == server_ids
    assert result["reloadedIds"] == server_ids
    for name in ("new-task", "task-plan-review", "task-diff-review", "task-completed"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    for name in ("history", "settings", "task-completed-dark", "task-phone", "new-task-phone"):
        assert (ARTIFACTS / f"{name}.png").exists()
