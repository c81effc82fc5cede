"""Bad input: each ends with a clear error (on the task, or refused at creation), never a
traceback, never a stuck task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Runner, final_json
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools
from tests.support.gitrepo import make_repo

pytestmark = pytest.mark.e2e

NODE_FILES = {
    "package.json": json.dumps(
        {"name": "mini", "version": "1.0.0", "scripts": {"test": "node --test"}}
    ),
    "index.js": "exports.twice = (x) => x * 2;\n",
    "test/index.test.js": (
        "const test = require('node:test');\nconst assert = require('node:assert');\n"
        "const { twice } = require('../index.js');\n"
        "test('twice', () => { assert.strictEqual(twice(2), 4); });\n"
    ),
}


def node_repo(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    return make_repo(tmp_path / "mini", {**NODE_FILES, **(extra or {})})


def run_task(
    errand: Runner,
    repo: str,
    prompt: str = "Add a thrice function",
    *,
    model: str = "openai/fake",
    env: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], str]:
    proc = errand(
        "task",
        "create",
        "--repo",
        repo,
        "--prompt",
        prompt,
        "--model",
        model,
        "--auto-approve",
        "--wait",
        "--json",
        env=env,
        timeout=240,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, final_json(proc), proc.stderr


def assert_failed(task: dict[str, Any], code: str, *phrases: str) -> None:
    assert task["status"] == "failed", task
    assert task["error"]["code"] == code, task["error"]
    for phrase in phrases:
        assert phrase in task["error"]["message"], task["error"]["message"]


def test_unknown_repo_path(tmp_path: Path, errand: Runner) -> None:
    code, task, _ = run_task(errand, str(tmp_path / "nope"))
    assert code == 1
    assert_failed(task, "invalid_input", "does not exist")


def test_directory_that_is_not_a_git_repo(tmp_path: Path, errand: Runner) -> None:
    (tmp_path / "plain").mkdir()
    _, task, _ = run_task(errand, str(tmp_path / "plain"))
    assert_failed(task, "invalid_input", "not a git repository")


def test_empty_prompt_is_refused(tmp_path: Path, errand: Runner) -> None:
    proc = errand(
        "task", "create", "--repo", str(tmp_path), "--prompt", "   ", "--model", "openai/x"
    )
    assert proc.returncode == 2
    assert "prompt is empty" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(errand("task", "list", "--json").stdout) == {
        "tasks": []
    }  # nothing half-created


def test_one_megabyte_prompt_is_refused(tmp_path: Path, errand: Runner) -> None:
    proc = errand(
        "task",
        "create",
        "--repo",
        str(tmp_path),
        "--prompt",
        "-",
        "--model",
        "openai/x",
        stdin="fix it " * 150_000,
    )
    assert proc.returncode == 2
    assert "more than the 100,000 allowed" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(errand("task", "list", "--json").stdout) == {"tasks": []}


def test_unknown_model(tmp_path: Path, errand: Runner) -> None:
    _, task, _ = run_task(errand, str(node_repo(tmp_path)), model="nosuchprovider/model-x")
    assert_failed(task, "model_error", "nosuchprovider/model-x")


def test_model_endpoint_down(tmp_path: Path, errand: Runner) -> None:
    _, task, _ = run_task(
        errand, str(node_repo(tmp_path)), env={"ERRAND_MODEL_API_BASE": "http://127.0.0.1:9/v1"}
    )
    assert_failed(task, "model_error", "127.0.0.1:9")


def test_malformed_tool_calls(tmp_path: Path, errand: Runner) -> None:
    def route(request: dict[str, Any]) -> Reply:
        return Reply(tool_calls=[("submit_plan", '{"summary": "oops", "steps": [')])

    with FakeOpenAI(router=route) as llm:
        _, task, _ = run_task(
            errand, str(node_repo(tmp_path)), env={"ERRAND_MODEL_API_BASE": llm.base_url}
        )
    assert_failed(task, "model_malformed_tool_calls", "malformed")


def test_hanging_test_suite(tmp_path: Path, errand: Runner) -> None:
    repo = node_repo(tmp_path, {"test/hang.test.js": "setInterval(() => {}, 1000);\n"})
    _, task, _ = run_task(errand, str(repo), env={"ERRAND_TEST_TIMEOUT_S": "5"})
    assert_failed(task, "tests_timed_out", "did not finish within 5 s")


def test_planning_model_that_never_plans_stops_on_budget(tmp_path: Path, errand: Runner) -> None:
    calls = {"n": 0}

    def route(request: dict[str, Any]) -> Reply:
        calls["n"] += 1
        assert "submit_plan" in offered_tools(request)
        return Reply(tool_calls=[("bash", {"command": f"echo {calls['n']}"})])

    with FakeOpenAI(router=route) as llm:
        _, task, _ = run_task(
            errand,
            str(node_repo(tmp_path)),
            env={"ERRAND_MODEL_API_BASE": llm.base_url, "ERRAND_MAX_STEPS": "4"},
        )
    assert_failed(task, "budget_exceeded", "4 model steps")
    assert calls["n"] == 4


def test_unpriced_model_is_refused_rather_than_run_without_a_usd_budget(
    tmp_path: Path, errand: Runner
) -> None:
    _, task, _ = run_task(errand, str(node_repo(tmp_path)), env={"ERRAND_MODEL_PRICE": ""})
    assert_failed(task, "budget_exceeded", "ERRAND_MODEL_PRICE")
