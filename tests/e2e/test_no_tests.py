"""A repository without tests runs instead of being refused: the model's proposed check runs in
the sandbox and the verdict says plainly that nothing of the repository's own verified it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Runner
from tests.e2e.test_bad_input import run_task
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools
from tests.support.gitrepo import make_repo

pytestmark = pytest.mark.e2e

CHECK = 'python3 -c \'import greet; assert greet.hello("x") == "hello x"\''
PLAN = {
    "summary": "Add hello",
    "steps": [{"title": "add hello", "files": ["greet.py"]}],
    "check_command": CHECK,
}
WRITE = "printf 'def hello(name):\\n    return \"hello \" + name\\n' > greet.py"


def route(request: dict[str, Any]) -> Reply:
    tools = offered_tools(request)
    if "submit_plan" in tools:
        return Reply(tool_calls=[("submit_plan", PLAN)])
    if "finish" in tools:
        turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if turns == 0:
            return Reply(tool_calls=[("bash", {"command": WRITE})])
        return Reply(tool_calls=[("finish", {"summary": "added hello"})])
    return Reply(content="Added a hello function; the repository has no tests. " * 4)


def test_a_repository_without_tests_runs_the_model_check_and_says_so(
    tmp_path: Path, errand: Runner
) -> None:
    repo = make_repo(tmp_path / "notests", {"README.md": "# greet\n", "greet.py": "\n"})
    with FakeOpenAI(router=route) as llm:
        _, task, err = run_task(
            errand, str(repo), "Add hello(name)", env={"ERRAND_MODEL_API_BASE": llm.base_url}
        )
        requests = llm.requests
    assert task["status"] == "completed", (task.get("error"), err[-2000:])
    tests = task["tests"]
    assert tests["suite_found"] is False and tests["command"] == ""
    assert tests["check_command"] == CHECK and tests["check_exit_code"] == 0
    assert tests["after"] is None and tests["baseline"] is None
    plan_prompt = json.dumps(requests[0]["messages"])
    assert "the repository has no tests" in plan_prompt  # the model was told, and offered a check
    summary_prompt = json.dumps(requests[-1]["messages"])
    assert "nothing of its own verified the change" in summary_prompt
    assert "a check the model proposed, not the repository's own tests" in summary_prompt
