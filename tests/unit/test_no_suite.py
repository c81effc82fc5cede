"""A repository without tests: what gets installed, and how the verdict reads in the summary and
the pull request (always "not verified", a model's check labelled as the model's)."""

from __future__ import annotations

from jobs.stages import check
from jobs.stages.publish import pr_body
from jobs.stages.summarize import verdict
from shared import testsuite
from shared.domain import Task, TestCounts, TestReport

CHECK = "python -c 'import app'"


def test_install_without_tests_still_installs_what_the_repository_declares() -> None:
    assert testsuite.detect({}, ["main.py", "README.md"]) is None
    assert testsuite.install_without_tests({}, ["main.py", "README.md"]) == []
    install = testsuite.install_without_tests({}, ["requirements.txt", "main.py"])
    assert "uv pip install" in install[-1] and "-r requirements.txt pytest; else" in install[-1]
    assert testsuite.install_without_tests({"package.json": "{}"}, ["package.json"]) == [
        "npm install --no-audit --no-fund"
    ]
    agents = {"AGENTS.md": "Install command: `make deps`\n"}
    assert testsuite.install_without_tests(agents, ["AGENTS.md"]) == ["make deps"]


def test_the_verdict_never_mentions_tests_that_do_not_exist() -> None:
    none_run = TestReport(suite_found=False)
    assert verdict(none_run) == (
        "the repository has no tests, so nothing of its own verified the change; no check was run"
    )
    passed = TestReport(suite_found=False, check_command=CHECK, check_exit_code=0)
    assert "a check the model proposed, not the repository's own tests," in verdict(passed)
    assert verdict(passed).endswith("passed") and "all tests pass" not in verdict(passed)
    failed = passed.model_copy(update={"check_exit_code": 1, "check_note": "timed out"})
    assert verdict(failed).endswith("failed (exit code 1), timed out")
    assert check.failed(failed) and not check.failed(passed) and not check.failed(none_run)
    # a repository with tests reads as before
    with_suite = TestReport(baseline=TestCounts(passed=2), after=TestCounts(passed=3))
    assert verdict(with_suite).endswith("all tests pass")


def test_the_pull_request_says_not_verified_and_labels_the_check() -> None:
    task = Task(
        repo="r",
        prompt="Add app",
        model="m",
        diff="diff --git a/app.py b/app.py\n",
        tests=TestReport(suite_found=False, check_command=CHECK, check_exit_code=0),
    )
    body = pr_body(task)
    assert "**Not verified by tests**: the repository has no tests" in body
    assert f"Check proposed by the model (not the repository's): `{CHECK}`" in body
    assert "before:" not in body
