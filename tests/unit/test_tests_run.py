"""The test stage's own runs: a test the report shows failing and then passing (a rerun plugin's
work) is flaky, and so is one that fails and then passes when the stage runs the suite again.
The sandbox is a fake that writes the report a real runner would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jobs.context import StageContext
from jobs.stages.tests_run import run_suite
from shared import verdict
from shared.domain import Stage, StageRequest, Task
from shared.ports import CommandResult, Sandbox
from shared.settings import Settings
from shared.testsuite import JUNIT_PATH, TestPlan, detect
from shared.wiring import Deps

FLAKY_IN_REPORT = """<testsuite name="pytest" tests="2" failures="0">
<testcase classname="tests.test_api" name="test_retry"><flakyFailure message="timeout"/></testcase>
<testcase classname="tests.test_api" name="test_ok"/></testsuite>"""
FAILING = """<testsuite name="pytest" tests="2" failures="1">
<testcase classname="tests.test_api" name="test_retry"/>
<testcase classname="tests.test_api" name="test_ok"><failure message="boom"/></testcase>
</testsuite>"""
PASSING = FAILING.replace('<failure message="boom"/>', "")


@dataclass
class ReportingSandbox:
    """Runs nothing: each call writes the next report where the plan's runner would."""

    reports: list[str]
    commands: list[str] = field(default_factory=list)

    def run(
        self,
        workspace: Path,
        command: str,
        *,
        cwd: str = "/workspace",
        network: bool = False,
        timeout_s: float = 600.0,
        on_output: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        self.commands.append(command)
        report = self.reports.pop(0)
        target = workspace / JUNIT_PATH.removeprefix("/workspace/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(report)
        failed = "<failure" in report
        return CommandResult(exit_code=int(failed), output="tests ran", duration_s=0.01)


@dataclass
class FakeSandboxDeps(Deps):
    fake: ReportingSandbox | None = None

    def sandbox(self) -> Sandbox:
        assert self.fake is not None
        return self.fake


def context(tmp_path: Path, reports: list[str]) -> tuple[StageContext, ReportingSandbox]:
    fake = ReportingSandbox(reports)
    deps = FakeSandboxDeps(Settings(home=tmp_path / "home", model="openai/default"), fake=fake)
    task = deps.store.create_task(Task(repo="r", prompt="p", model="openai/default"))
    ctx = StageContext(deps, StageRequest(task_id=task.id, stage=Stage.VERIFY), task)
    ctx.workspace.mkdir(parents=True, exist_ok=True)
    return ctx, fake


def plan() -> TestPlan:
    found = detect({}, ["tests/test_api.py"])
    assert found is not None and found.junit_path == JUNIT_PATH
    return found


def test_a_test_the_report_shows_flaky_is_flaky_without_a_second_run(tmp_path: Path) -> None:
    ctx, fake = context(tmp_path, [FLAKY_IN_REPORT])
    run = run_suite(ctx, plan())
    assert run.flaky == ["tests.test_api::test_retry"]
    assert len(fake.commands) == 1  # nothing failed: no second run
    v = verdict.classify(run.result, run.result, run.flaky)
    assert v.flaky == ["tests.test_api::test_retry"] and v.newly_failing == []


def test_a_failure_that_passes_on_the_second_run_is_flaky_too(tmp_path: Path) -> None:
    ctx, fake = context(tmp_path, [FAILING, PASSING])
    run = run_suite(ctx, plan())
    assert run.flaky == ["tests.test_api::test_ok"]
    assert len(fake.commands) == 2
