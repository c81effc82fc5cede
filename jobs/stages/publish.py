"""publish: on the trusted side, apply the diff to a pristine clone, commit, push, open the PR."""

from __future__ import annotations

from jobs.context import StageContext
from jobs.stages.common import describe_counts, format_plan
from jobs.stages.verify import changed_files
from shared import conventional
from shared.domain import EventKind, Stage, Status, slugify
from shared.errors import StageFailed


def branch_name(prompt: str, short_id: str) -> str:
    return f"errand/{slugify(prompt, 40)}-{short_id}"


def run(ctx: StageContext) -> None:
    task = ctx.task
    if not task.diff.strip():
        raise StageFailed("no_changes", "there is no diff to publish")
    summary = task.plan.summary if task.plan else task.prompt
    message = conventional.commit_message(task.prompt, summary)
    title = message.splitlines()[0]
    body = pr_body(ctx)
    branch = task.branch or branch_name(task.prompt, task.short_id)
    cr = ctx.deps.forge.publish(
        task.repo, task.base_branch, branch, task.diff, message, title, body
    )
    ctx.emit(EventKind.PR_CREATED, {"branch": cr.branch, "url": cr.url, "commit": cr.commit})
    ctx.log(f"pushed {cr.branch} ({cr.commit[:12]})")
    ctx.advance(Status.SUMMARIZING, Stage.SUMMARIZE, branch=cr.branch, pr_url=cr.url)


def pr_body(ctx: StageContext) -> str:
    t = ctx.task
    lines = [f"Task: {t.prompt}", ""]
    if t.plan:
        lines += ["## Plan", format_plan(t.plan), ""]
    lines += [
        "## Tests",
        f"Command: `{t.tests.command}`",
        f"- before: {describe_counts(t.tests.baseline)}",
        f"- after: {describe_counts(t.tests.after)}",
    ]
    if t.tests.newly_failing:
        lines.append("- newly failing: " + ", ".join(t.tests.newly_failing))
    if t.tests.newly_passing:
        lines.append("- newly passing: " + ", ".join(t.tests.newly_passing))
    lines += ["", "## Files", *[f"- {f}" for f in changed_files(t.diff)], "", "Opened by Errand."]
    return "\n".join(lines)
