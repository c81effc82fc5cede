"""What a task from GitHub says back (jobs/feedback.py), with a fake ForgeFeedback: one post
per phase, the comment id kept, GitHub errors logged and never failing the task, and the
sender's access checked before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.context import StageContext
from jobs.feedback import check_sender, notify
from shared.domain import GitHubOrigin, Stage, StageRequest, Status, Task
from shared.errors import ForgeError, StageFailed
from shared.settings import Settings
from shared.wiring import Deps


class FakeFeedback:
    """Implements shared.ports.ForgeFeedback in memory."""

    def __init__(self, role: str = "write", broken: bool = False) -> None:
        self.posts: list[tuple[int, str]] = []  # (known comment id, text)
        self.acknowledged = 0
        self.issued: set[str] = set()  # like GitHubForge: tokens used, scrubbed from logs
        self._role = role
        self._broken = broken

    def post_status(self, origin: GitHubOrigin, task_id: str, text: str) -> int:
        if self._broken:
            raise ForgeError("GitHub answered 502 updating the status comment: Bad gateway")
        self.posts.append((origin.status_comment_id, text))
        return 555

    def acknowledge(self, origin: GitHubOrigin) -> None:
        self.acknowledged += 1

    def role(self, repository: str, login: str) -> str:
        return self._role

    def describe(self, repository: str, number: int, body: str) -> None:
        raise AssertionError("no pull request in these tests")

    def head_branch(self, repository: str, number: int) -> str:
        return {8: "feature/x"}.get(number, "")


def context(tmp_path: Path, feedback: FakeFeedback) -> StageContext:
    deps = Deps(Settings.from_env({"ERRAND_HOME": str(tmp_path / "home")}))
    deps.__dict__["github"] = feedback  # what Deps.feedback hands out
    origin = GitHubOrigin(
        installation_id=7, repository="o/r", number=3, sender="alice", comment_id=9
    )
    task = deps.store.create_task(Task(repo="o/r", prompt="p", model="m", origin=origin))
    return StageContext(deps, StageRequest(task_id=task.id, stage=Stage.PREPARE), task)


def test_one_post_per_phase_and_the_comment_is_edited_after(tmp_path: Path) -> None:
    fake = FakeFeedback()
    ctx = context(tmp_path, fake)
    check_sender(ctx)
    assert fake.acknowledged == 1 and len(fake.posts) == 1 and fake.posts[0][0] == 0
    ctx.move(Status.PREPARING)  # same phase: nothing to say
    ctx.move(Status.PLANNING)
    assert len(fake.posts) == 1
    ctx.move(Status.FAILED)
    assert len(fake.posts) == 2 and fake.posts[1][0] == 555
    assert "could not finish" in fake.posts[1][1]
    stored = ctx.deps.store.get_task(ctx.task.id).origin
    assert stored is not None and (stored.status_comment_id, stored.status_phase) == (555, "failed")


def test_github_errors_are_logged_not_fatal(tmp_path: Path) -> None:
    ctx = context(tmp_path, FakeFeedback(broken=True))
    check_sender(ctx)
    ctx.move(Status.PREPARING)
    assert ctx.task.status == Status.PREPARING
    logs = [e.data.get("message") for e in ctx.deps.store.read_events(ctx.task.id)]
    assert any(
        "could not update the status comment on GitHub: GitHub answered 502" in str(m) for m in logs
    )


@pytest.mark.parametrize("role", ["read", ""])
def test_a_sender_without_triage_access_is_refused(tmp_path: Path, role: str) -> None:
    fake = FakeFeedback(role=role)
    ctx = context(tmp_path, fake)
    with pytest.raises(StageFailed, match=r"alice has .* access to o/r"):
        check_sender(ctx)
    assert fake.acknowledged == 0 and fake.posts == []


def test_tasks_without_an_origin_say_nothing(tmp_path: Path) -> None:
    fake = FakeFeedback()
    ctx = context(tmp_path, fake)
    ctx.task = ctx.deps.store.update_task(ctx.task.model_copy(update={"origin": None}))
    check_sender(ctx)
    notify(ctx)
    assert fake.posts == [] and fake.acknowledged == 0


def test_a_comment_on_a_pull_request_works_on_its_branch(tmp_path: Path) -> None:
    ctx = context(tmp_path, FakeFeedback())
    assert ctx.task.origin is not None
    on_pr = ctx.task.origin.model_copy(update={"is_pull_request": True, "number": 8})
    ctx.task = ctx.deps.store.update_task(ctx.task.model_copy(update={"origin": on_pr}))
    check_sender(ctx)
    assert ctx.deps.store.get_task(ctx.task.id).base_branch == "feature/x"
    fork = on_pr.model_copy(update={"number": 9})
    ctx.task = ctx.deps.store.update_task(
        ctx.task.model_copy(update={"origin": fork, "base_branch": ""})
    )
    with pytest.raises(StageFailed, match="comes from a fork"):
        check_sender(ctx)
