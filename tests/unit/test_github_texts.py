"""Repository forms, the status comment and the one-line verdict."""

from __future__ import annotations

import pytest

from shared.domain import GitHubOrigin, Plan, PlanStep, Status, Task, TestCounts, TestReport
from shared.github.refs import github_repo
from shared.github.texts import one_line_verdict, status_comment


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("octo-org/calc", "octo-org/calc"),
        ("https://github.com/octo-org/calc", "octo-org/calc"),
        ("https://github.com/octo-org/calc.git", "octo-org/calc"),
        ("https://ghe.example.com/team/app", "team/app"),
        ("/home/me/calc", None),
        ("./calc", None),
        ("~/src/calc", None),
        ("calc", None),
        ("git@github.com:octo-org/calc.git", None),
        ("https://gitlab.com/a/b", None),
        ("a/b/c", None),
        ("octo-org/..", None),
        ("", None),
    ],
)
def test_which_repositories_are_on_github(repo: str, expected: str | None) -> None:
    assert github_repo(repo, "https://ghe.example.com") == expected


def _task(status: Status, **extra: object) -> Task:
    origin = GitHubOrigin(installation_id=1, repository="o/r", number=4, sender="alice")
    return Task(repo="o/r", prompt="p", model="m", status=status, origin=origin, **extra)  # type: ignore[arg-type]


def test_status_comment_phases() -> None:
    plan = Plan(summary="Fix it.", steps=[PlanStep(title="Edit", files=["a.py", "b.py"])])
    text = status_comment(_task(Status.PLAN_REVIEW, plan=plan), "https://e.example")
    assert "- [ ] 1. Edit (`a.py`, `b.py`)" in text and "`/errand approve`" in text
    assert "[task t_" in text and "https://e.example/tasks/t_" in text
    failed = _task(Status.FAILED)
    assert "no reason recorded" in status_comment(failed, "")
    assert "Cancelled" in status_comment(_task(Status.CANCELLED), "")


def test_one_line_verdict_never_claims_more() -> None:
    report = TestReport(
        baseline=TestCounts(passed=2, failed=1),
        after=TestCounts(passed=2, failed=1),
        newly_failing=["t::a"],
        newly_passing=["t::b"],
    )
    assert one_line_verdict(report) == (
        "2 passed, 1 failed → 2 passed, 1 failed (1 newly failing; 1 newly passing)"
    )
    assert "not run after the change" in one_line_verdict(TestReport())
