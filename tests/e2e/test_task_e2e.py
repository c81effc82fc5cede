"""One task end to end through the CLI: real git, real sandbox, litellm over real HTTP to a
local OpenAI-compatible server, real speech."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Runner, final_json
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
    "I fixed the add function in the calculator, which subtracted its arguments instead of "
    "adding them. Before the change one of three tests failed; after it, all three tests pass. "
    "The fix is on a new branch, ready for review."
)


def route(request: dict[str, Any]) -> Reply:
    tools = offered_tools(request)
    if "submit_plan" in tools:
        return Reply(tool_calls=[("submit_plan", PLAN)])
    if "bash" in tools:
        turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if turns == 0:
            return Reply(tool_calls=[("view", {"path": "calc.py", "start_line": 1, "end_line": 8})])
        if turns == 1:
            return Reply(tool_calls=[("edit", EDIT)])
        return Reply(tool_calls=[("finish", {"summary": "add() fixed"})])
    return Reply(content=SUMMARY)


def test_task_completes_with_every_field(tmp_path: Path, errand: Runner) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    with FakeOpenAI(router=route) as llm:
        proc = errand(
            "task",
            "create",
            "--repo",
            str(repo),
            "--prompt",
            "Fix the failing add test",
            "--model",
            "openai/fake-coder",
            "--auto-approve",
            "--wait",
            "--json",
            env={
                "ERRAND_MODEL_API_BASE": llm.base_url,
                "ERRAND_MODEL_API_KEY": "sk-canary-e2e-0123456789",
            },
        )
        requests = json.dumps(llm.requests)
        tool_results = [
            m["content"] for r in llm.requests for m in r["messages"] if m["role"] == "tool"
        ]
    task = final_json(proc)
    assert task["status"] == "completed", (task.get("error"), proc.stderr[-3000:])
    assert proc.returncode == 0
    assert task["plan"] == {**PLAN, "check_command": ""}  # no check: the repo has tests
    assert "+    return a + b" in task["diff"] and "-    return a - b" in task["diff"]
    tests = task["tests"]
    assert tests["baseline"]["failed"] == 1 and tests["baseline"]["passed"] == 2
    assert tests["after"]["failed"] == 0 and tests["after"]["passed"] == 3
    assert any("test_add" in t for t in tests["newly_passing"])
    assert tests["newly_failing"] == []
    # the branch was pushed to the repository, with the fix and nothing else
    branch = task["branch"]
    assert branch.startswith("errand/") and task["pr_url"]
    pushed = git(repo, "show", f"{branch}:calc.py")
    assert "return a + b" in pushed and pushed.count("return a - b") == 1
    assert git(repo, "rev-parse", f"{branch}~1") == git(repo, "rev-parse", "main")
    subject = git(repo, "log", "-1", "--format=%s", branch)
    assert subject.split(":")[0] in {"fix", "feat", "test", "chore", "refactor", "docs"}
    # audio: a playable MP3 longer than 2 s
    audio = task["audio"]
    assert audio["duration_s"] > 2.0 and audio["transcript"]
    data = Path(audio["path"]).read_bytes()
    assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    usage = task["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    expected = (usage["prompt_tokens"] * 1.5 + usage["completion_tokens"] * 6) / 1e6
    assert abs(usage["cost_usd"] - expected) < 1e-6
    for field in ("id", "repo", "base_branch", "prompt", "model", "created_at", "updated_at"):
        assert task[field], field
    assert task["base_branch"] == "main"
    # the file tools ran in the sandbox and their results reached the model
    assert any("return a - b" in out and "def add" in out for out in tool_results)  # view
    assert not any(out.startswith("error") for out in tool_results)
    # the key was used for the model call but never shown to it
    assert "sk-canary-e2e" not in requests


def test_scripted_model_runs_the_demo(errand: Runner) -> None:
    proc = errand("demo", "--json")
    task = final_json(proc)
    assert task["status"] == "completed", (task.get("error"), proc.stderr[-3000:])
    assert "SCRIPTED" in proc.stderr
    assert task["tests"]["baseline"]["failed"] == 1 and task["tests"]["after"]["failed"] == 0
    assert task["audio"]["duration_s"] > 2.0


def test_gates_wait_for_approval_and_edited_plan_is_followed(
    tmp_path: Path, errand: Runner
) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    with FakeOpenAI(router=route) as llm:
        env = {"ERRAND_MODEL_API_BASE": llm.base_url, "ERRAND_MODEL": "openai/fake-coder"}
        proc = errand(
            "task",
            "create",
            "--repo",
            str(repo),
            "--prompt",
            "Fix add",
            "--wait",
            "--json",
            env=env,
        )
        task = final_json(proc)
        assert proc.returncode == 3 and task["status"] == "plan_review", proc.stderr[-2000:]
        edited = tmp_path / "plan.json"
        edited.write_text(json.dumps({"summary": "Edited: fix add only", "steps": PLAN["steps"]}))
        proc = errand(
            "task",
            "approve",
            task["id"],
            "--plan",
            "--plan-file",
            str(edited),
            "--wait",
            "--json",
            env=env,
        )
        task = final_json(proc)
        assert task["status"] == "diff_review", (task.get("error"), proc.stderr[-2000:])
        assert task["plan"]["summary"] == "Edited: fix add only"
        execute_prompts = [r for r in llm.requests if "finish" in offered_tools(r)]
        assert "Edited: fix add only" in json.dumps(execute_prompts[0]["messages"])
        proc = errand("task", "approve", task["id"], "--diff", "--wait", "--json", env=env)
        task = final_json(proc)
    assert task["status"] == "completed", task.get("error")
    assert (
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", task["branch"]], capture_output=True
        ).returncode
        == 0
    )


def test_files_the_install_writes_into_the_repo_stay_out_of_the_diff(
    tmp_path: Path, errand: Runner
) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "calc"\nversion = "0.1"\n[tool.setuptools]\npy-modules = ["calc"]\n'
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "installable")
    with FakeOpenAI(router=route) as llm:
        proc = errand(
            "task",
            "create",
            "--repo",
            str(repo),
            "--prompt",
            "Fix the failing add test",
            "--model",
            "openai/fake-coder",
            "--auto-approve",
            "--wait",
            "--json",
            env={"ERRAND_MODEL_API_BASE": llm.base_url},
        )
    task = final_json(proc)
    assert task["status"] == "completed", (task.get("error"), proc.stderr[-2000:])
    assert [ln for ln in task["diff"].splitlines() if ln.startswith("diff --git")] == [
        "diff --git a/calc.py b/calc.py"
    ]
    assert task["conformance"]["unplanned_files"] == []
