"""Pure pieces of the stages: the spoken verdict, the PR body, plan file checks."""

from __future__ import annotations

from pathlib import Path

from jobs.stages.plan import missing_files
from jobs.stages.publish import branch_name, pr_body
from jobs.stages.summarize import verdict
from shared.domain import Conformance, Plan, PlanStep, Task, TestCounts, TestReport

DIFF = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-a\n+b\n"


def report(**kw: object) -> TestReport:
    base = {"command": "pytest", "baseline": TestCounts(passed=2, failed=1)}
    return TestReport.model_validate({**base, **kw})


def test_verdict_says_all_pass_only_when_they_do() -> None:
    good = verdict(report(after=TestCounts(passed=3), newly_passing=["t::add"]))
    assert "all tests pass" in good and "1 tests newly pass" in good
    failing = verdict(report(after=TestCounts(passed=2, failed=1), newly_failing=["t::sub"]))
    assert "all tests pass" not in failing and "1 tests newly fail" in failing
    timed_out = verdict(report(after=TestCounts(failed=1), after_note="timed out after 5 s"))
    assert "all tests pass" not in timed_out and "timed out" in timed_out
    assert verdict(report()) == "the tests were not run after the change"
    flaky = verdict(report(after=TestCounts(passed=3), flaky=["t::x"]))
    assert "1 tests are flaky" in flaky


def task(**kw: object) -> Task:
    plan = Plan(summary="Fix add", steps=[PlanStep(title="fix", files=["calc.py"])])
    fields = {"repo": "/r", "prompt": "Fix the add bug", "model": "m", "plan": plan, "diff": DIFF}
    return Task.model_validate({**fields, **kw})


def test_pr_body_follows_the_repository_template() -> None:
    template = "## Description\n\n<!-- what and why -->\n\n## Checklist\n- [ ] tests\n"
    body = pr_body(task(tests=report(after=TestCounts(passed=3))), template)
    assert body.index("## Description") < body.index("Fix add") < body.index("## Checklist")
    assert "- [ ] tests" in body and "## Tests" in body and "- calc.py" in body


def test_pr_body_reports_conformance_and_failures_without_a_template() -> None:
    t = task(
        tests=report(after=TestCounts(passed=2, failed=1), newly_failing=["t::sub"]),
        conformance=Conformance(unplanned_files=["setup.py"], untouched_steps=["docs"]),
    )
    body = pr_body(t)
    assert body.startswith("## Summary")
    assert "newly failing: t::sub" in body
    assert (
        "changed outside the plan: setup.py" in body and "plan steps with no change: docs" in body
    )


def test_branch_name() -> None:
    assert branch_name("Fix the add() bug!", "abc123") == "errand/fix-the-add-bug-abc123"


def test_plan_files_must_exist_or_be_marked_new(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x")
    (tmp_path / "link.py").symlink_to("/etc/hostname")
    plan = Plan(
        summary="s",
        steps=[
            PlanStep(title="a", files=["src/a.py", "./src/a.py", "src/new.py (new)"]),
            PlanStep(title="b", files=["src/missing.py", "link.py", "../escape.py"]),
        ],
    )
    assert missing_files(tmp_path, plan) == ["src/missing.py", "link.py", "../escape.py"]


def test_verdict_never_says_all_pass_when_tests_vanished() -> None:
    text = verdict(report(after=TestCounts(passed=2), disappeared=["t::add"]))
    assert "all tests pass" not in text and "1 tests are no longer reported" in text
