"""Faults from outside the machine: every stage delivered twice (at once, and again late), a
model that answers 500, 429 or not at all, a workspace disk filled up. Every task ends
completed or failed with a reason, with one effect, and leaves nothing mounted or running."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import paths
from shared.client import LocalClient
from shared.demo import make_sample_repo, turns_path
from shared.services import CreateTask
from shared.settings import Settings
from shared.stack import Stack
from tests.e2e.conftest import Runner, final_json
from tests.e2e.test_faults import record
from tests.e2e.test_task_e2e import EDIT, route
from tests.support.errand_server import home_processes, mounts_under
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools
from tests.support.gitrepo import git, make_python_repo_with_failing_test

pytestmark = pytest.mark.e2e


@pytest.fixture
def doubled(tmp_path: Path) -> Iterator[tuple[Stack, list[bytes]]]:
    """A stack whose queue delivers every request twice at the same moment, and a third time
    two seconds later (a duplicate that arrives after the stage has moved on)."""
    stack = Stack(Settings(home=tmp_path / "home"))
    original = stack.deps.deliver
    assert original is not None
    seen: list[bytes] = []

    def deliver(body: bytes) -> int:
        seen.append(body)
        results: list[int] = []
        twin = threading.Thread(target=lambda: results.append(original(body)))
        twin.start()
        status = original(body)
        twin.join()
        threading.Timer(2.0, original, args=(body,)).start()
        return status if status < 300 else results[0]

    stack.deps.deliver = deliver
    stack.start()
    yield stack, seen
    stack.stop()
    for mount in reversed(mounts_under(stack.settings.home)):
        import subprocess

        subprocess.run(["umount", "-l", mount], check=False)


def test_every_stage_delivered_twice_has_one_effect(
    doubled: tuple[Stack, list[bytes]], tmp_path: Path
) -> None:
    stack, seen = doubled
    client = LocalClient(stack)
    repos = {}
    for i in range(2):
        repo = make_sample_repo(tmp_path / f"calc{i}")
        task = client.create(
            CreateTask(
                repo=str(repo),
                prompt="Fix add",
                model=f"scripted:{turns_path()}",
                auto_approve=True,
            )
        )
        repos[task["id"]] = repo
    for task_id in repos:
        for _ in client.events(task_id):
            pass
    time.sleep(2.5)  # the late duplicates arrive after the end
    for task_id, repo in repos.items():
        task = client.get(task_id)
        assert task["status"] == "completed", task.get("error")
        assert git(repo, "rev-list", "--count", f"main..{task['branch']}").strip() == "1"
        kinds = Counter(e.kind.value for e in stack.deps.store.read_events(task_id, 0, 5000))
        for once in ("pr_created", "audio_ready", "task_completed", "plan_ready", "diff_ready"):
            assert kinds[once] == 1, (task_id, once, kinds[once])
        starts = [
            p for p in paths.jobs_dir(stack.settings.home).glob(f"{task_id}-*.log") if p.is_file()
        ]
        stages = {p.name.split("-")[1] for p in starts}
        assert len(starts) == len(stages), sorted(p.name for p in starts)  # one start per stage
    duplicates = len(seen) * 2  # each delivery came twice more
    assert not mounts_under(paths.workspace(stack.settings.home, "x").parent)
    record("duplicate_deliveries", duplicates, duplicates, tasks=len(repos))


def _model_env(llm: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"ERRAND_MODEL_API_BASE": llm.base_url, "ERRAND_MODEL_API_KEY": "sk-x", **extra}


def _create(errand: Runner, repo: Path, env: dict[str, str]) -> dict[str, Any]:
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
        env=env,
    )
    return final_json(proc)


def _failing_then(route_: Callable[[dict[str, Any]], Reply], failures: list[Reply]) -> Any:
    """A router that answers the first call of each stage with the given failures first."""
    pending: dict[str, list[Reply]] = {}

    def router(request: dict[str, Any]) -> Reply:
        tools = offered_tools(request)
        stage = "plan" if "submit_plan" in tools else "execute" if "bash" in tools else "speak"
        queue = pending.setdefault(stage, list(failures))
        return queue.pop(0) if queue else route_(request)

    return router


def test_model_errors_and_rate_limits_are_retried(tmp_path: Path, errand: Runner) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    flaky = [Reply(status=500, error="upstream hiccup"), Reply(status=429, error="slow down")]
    with FakeOpenAI(router=_failing_then(route, flaky)) as llm:
        task = _create(errand, repo, _model_env(llm))
        statuses = [r.get("model") for r in llm.requests]
    assert task["status"] == "completed", task.get("error")
    assert len(statuses) >= 3 * 3  # every stage: 500, 429, then the answer
    record("model_500_429", 6, 6)


@pytest.mark.parametrize(
    ("reply", "expect"),
    [
        (Reply(status=500, error="the model server is down"), "500"),
        (Reply(status=429, error="rate limited for an hour"), "rate"),
        (Reply(content="late", delay_s=4), "within 2 s"),
    ],
    ids=["always-500", "always-429", "timeout"],
)
def test_a_model_that_keeps_failing_fails_the_task_saying_why(
    tmp_path: Path, errand: Runner, reply: Reply, expect: str
) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    with FakeOpenAI(router=lambda request: reply) as llm:
        task = _create(errand, repo, _model_env(llm, ERRAND_MODEL_TIMEOUT_S="2"))
    assert task["status"] == "failed"
    assert task["error"]["code"] == "model_error", task["error"]
    assert expect.lower() in task["error"]["message"].lower(), task["error"]
    assert "sk-x" not in json.dumps(task)
    home = tmp_path / "home"
    assert mounts_under(home / "workspaces") == []
    assert home_processes(home) == []


def _filler(request: dict[str, Any]) -> Reply:
    tools = offered_tools(request)
    if "bash" in tools and "submit_plan" not in tools:
        turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if turns == 0:
            return Reply(
                tool_calls=[("bash", {"command": "dd if=/dev/zero of=fill bs=1M count=400"})]
            )
        if turns == 1:
            return Reply(tool_calls=[("bash", {"command": "rm -f fill && df -m . | tail -1"})])
        if turns == 2:
            return Reply(tool_calls=[("edit", EDIT)])
        return Reply(tool_calls=[("finish", {"summary": "add() fixed"})])
    return route(request)


def test_a_full_workspace_disk_is_a_failed_command_not_a_broken_task(
    tmp_path: Path, errand: Runner
) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    with FakeOpenAI(router=_filler) as llm:
        task = _create(errand, repo, _model_env(llm, ERRAND_WORKSPACE_MB="128"))
        results = [m["content"] for r in llm.requests for m in r["messages"] if m["role"] == "tool"]
    assert any("No space left on device" in out for out in results), results[:3]
    assert task["status"] == "completed", task.get("error")
    home = tmp_path / "home"
    assert mounts_under(home / "workspaces") == []
    assert home_processes(home) == []
    record("disk_full", 1, 1)
