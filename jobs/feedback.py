"""What a task says back to GitHub, from the trusted side of the stages: the sender's access
checked again through the API, 👀 on the trigger comment, one status comment edited in place as
the task moves, and the pull request's description refreshed once the audio exists.

Reporting never fails a task: a GitHub error here is logged on the task and the work goes on
(except the access check, which must pass before any work)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from shared.domain import Status
from shared.errors import Conflict, ErrandError, StageFailed
from shared.github.refs import github_repo
from shared.github.texts import PHASES, status_comment

if TYPE_CHECKING:
    from jobs.context import StageContext

# Applying a label takes triage access; the same roles may ask by comment.
ALLOWED_ROLES = frozenset({"admin", "maintain", "write", "triage"})


def check_sender(ctx: StageContext) -> None:
    """Prepare's first step for a task from GitHub: the payload said the sender may trigger
    Errand; the API must agree before anything runs."""
    origin = ctx.task.origin
    if origin is None:
        return
    role = ctx.deps.feedback.role(origin.repository, origin.sender)
    if role not in ALLOWED_ROLES:
        raise StageFailed(
            "not_permitted",
            f"{origin.sender} has {role or 'no'} access to {origin.repository}; Errand works "
            "for people with triage, write, maintain or admin access",
        )
    try:
        ctx.deps.feedback.acknowledge(origin)
    except ErrandError as exc:
        ctx.log(f"could not react to the trigger comment: {exc.message}")
    if origin.is_pull_request and not ctx.task.base_branch:
        # a comment on a pull request does not name its branch: work on that branch
        head = ctx.deps.feedback.head_branch(origin.repository, origin.number)
        if not head:
            raise StageFailed(
                "fork_pull_request",
                f"{origin.repository}#{origin.number} comes from a fork, which Errand cannot "
                "push to; ask on an issue instead",
            )
        ctx.save(base_branch=head)
    notify(ctx)


def notify(ctx: StageContext) -> None:
    """Brings the status comment up to date with the task's phase (one call when it changed,
    none otherwise)."""
    task = ctx.task
    if task.status == Status.COMPLETED:
        refresh_description(ctx)
    origin = task.origin
    if origin is None:
        return
    phase = PHASES[task.status]
    if phase == origin.status_phase:
        return
    try:
        text = status_comment(task, public_base(ctx))
        comment_id = ctx.deps.feedback.post_status(origin, task.id, text)
    except ErrandError as exc:
        ctx.log(f"could not update the status comment on GitHub: {exc.message}")
        return
    update = {"status_comment_id": comment_id, "status_phase": phase}
    # when someone wrote the task meanwhile, the next update finds the comment by its marker
    with contextlib.suppress(Conflict):
        ctx.save(origin=origin.model_copy(update=update))


def refresh_description(ctx: StageContext) -> None:
    """The pull request was opened before the audio existed: add the link and the final cost.
    A follow-up leaves the description of the pull request it adds to alone."""
    from jobs.stages.publish import pr_body
    from jobs.stages.tests_run import load_state

    task = ctx.task
    if not task.pr_number or (task.origin and task.origin.follow_up_of):
        return
    name = github_repo(task.repo, ctx.deps.github_app.web_url)
    if not name:
        return
    try:
        body = pr_body(task, load_state(ctx).pr_template, public_base(ctx))
        ctx.deps.feedback.describe(name, task.pr_number, body)
    except ErrandError as exc:
        ctx.log(f"could not update the pull request's description: {exc.message}")


def public_base(ctx: StageContext) -> str:
    """Where people reach this Errand: links in comments and descriptions start here."""
    return ctx.deps.settings.github.public_url or ctx.deps.settings.server_url
