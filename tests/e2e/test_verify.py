"""Verify is honest: flaky tests are neither fixed nor broken, and newly failing tests send the
task back to execute with the failure output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Runner
from tests.e2e.test_bad_input import NODE_FILES, assert_failed, node_repo, run_task
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools

pytestmark = pytest.mark.e2e

PLAN = {"summary": "Add thrice", "steps": [{"title": "add thrice", "files": ["index.js"]}]}
FLAKY_TEST = """const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const marker = '/workspace/flaky-count';
let n = 0;
try { n = Number(fs.readFileSync(marker, 'utf8')); } catch {}
fs.writeFileSync(marker, String(n + 1));
test('sometimes', () => { assert.ok(n % 2 === 1, 'fails on every other run'); });
"""
BREAK = "printf 'exports.twice = (x) => x * 3;\\nexports.thrice = (x) => x * 3;\\n' > index.js"
FIX = "printf 'exports.twice = (x) => x * 2;\\nexports.thrice = (x) => x * 3;\\n' > index.js"


def router(first_command: str) -> Any:
    def route(request: dict[str, Any]) -> Reply:
        tools = offered_tools(request)
        if "submit_plan" in tools:
            return Reply(tool_calls=[("submit_plan", PLAN)])
        if "bash" in tools:
            text = json.dumps(request["messages"])
            turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
            command = FIX if "Fix round 1" in text else first_command
            if turns == 0:
                return Reply(tool_calls=[("bash", {"command": command})])
            return Reply(tool_calls=[("finish", {"summary": "done"})])
        return Reply(content="Added thrice. " * 12)

    return route


def test_newly_failing_test_sends_the_task_back_to_execute(tmp_path: Path, errand: Runner) -> None:
    with FakeOpenAI(router=router(BREAK)) as llm:
        _, task, err = run_task(
            errand, str(node_repo(tmp_path)), env={"ERRAND_MODEL_API_BASE": llm.base_url}
        )
        requests = llm.requests
    assert task["status"] == "completed", (task.get("error"), err[-2000:])
    fix_round = [r for r in requests if "Fix round 1" in json.dumps(r["messages"])]
    assert fix_round, "the second execute round never saw the failure"
    assert "twice" in json.dumps(fix_round[0]["messages"])  # the failing test was named
    assert task["tests"]["newly_failing"] == [] and task["tests"]["after"]["failed"] == 0
    assert "x * 2" in task["diff"] and "thrice" in task["diff"]


def test_rounds_exhausted_stops_at_diff_review_with_an_honest_verdict(
    tmp_path: Path, errand: Runner
) -> None:
    always_break = router(BREAK)

    def route(request: dict[str, Any]) -> Reply:
        reply = always_break(request)
        if reply.tool_calls and reply.tool_calls[0][0] == "bash":
            return Reply(tool_calls=[("bash", {"command": BREAK})])
        return reply

    with FakeOpenAI(router=route) as llm:
        code, task, _ = run_task(
            errand,
            str(node_repo(tmp_path)),
            env={"ERRAND_MODEL_API_BASE": llm.base_url, "ERRAND_FIX_ROUNDS": "1"},
        )
    assert code == 3 and task["status"] == "diff_review"
    assert task["tests"]["newly_failing"] and "twice" in task["tests"]["newly_failing"][0]


def test_flaky_test_is_reported_as_flaky_not_fixed_or_broken(
    tmp_path: Path, errand: Runner
) -> None:
    repo = node_repo(tmp_path, {"test/flaky.test.js": FLAKY_TEST})
    with FakeOpenAI(router=router(FIX)) as llm:
        _, task, err = run_task(errand, str(repo), env={"ERRAND_MODEL_API_BASE": llm.base_url})
    assert task["status"] == "completed", (task.get("error"), err[-2000:])
    tests = task["tests"]
    assert any("sometimes" in t for t in tests["flaky"]), tests
    assert tests["newly_failing"] == [] and tests["newly_passing"] == []


def test_timeout_after_the_change_is_a_failure_not_a_pass(tmp_path: Path, errand: Runner) -> None:
    hang = "printf 'setInterval(() => {}, 1000);\\n' > test/hang.test.js"
    with FakeOpenAI(router=router(hang)) as llm:
        _, task, _ = run_task(
            errand,
            str(node_repo(tmp_path)),
            env={
                "ERRAND_MODEL_API_BASE": llm.base_url,
                "ERRAND_TEST_TIMEOUT_S": "8",
                "ERRAND_FIX_ROUNDS": "0",
            },
        )
    assert task["status"] == "diff_review"
    assert "timed out" in task["tests"]["after_note"]
    assert task["tests"]["newly_failing"] == ["npm test"]


_ = (NODE_FILES, assert_failed)
