"""publish: on the trusted side, apply the diff to a pristine clone, commit, push, open the PR."""

from __future__ import annotations

import re

from jobs.context import StageContext
from jobs.feedback import public_base
from jobs.stages import check
from jobs.stages.common import describe_counts, format_plan
from jobs.stages.tests_run import load_state
from jobs.stages.verify import changed_files, diff_key
from shared import conventional
from shared.domain import EventKind, Stage, Status, Task, slugify
from shared.errors import StageFailed
from shared.github.refs import github_repo
from shared.github.texts import cost_line, task_url

MAX_PROMPT_IN_BODY = 4000
_SUMMARY_HEADING = re.compile(r"^#{1,4}\s*(summary|description|what|changes)\b.*$", re.I | re.M)


def branch_name(prompt: str, short_id: str) -> str:
    return f"errand/{slugify(prompt, 40)}-{short_id}"


def run(ctx: StageContext) -> None:
    task = ctx.task
    if not task.diff.strip():
        raise StageFailed("no_changes", "there is no diff to publish")
    summary = task.plan.summary if task.plan else task.prompt
    message = conventional.commit_message(task.prompt, summary)
    title = message.splitlines()[0]
    if task.branch and task.branch == task.base_branch:
        # a follow-up's commit names its task, so a rerun finds it pushed already
        message = f"{message.rstrip()}\n\nErrand-Task: {task.id}\n"
    body = pr_body(task, load_state(ctx).pr_template, public_base(ctx))
    branch = task.branch or branch_name(task.prompt, task.short_id)
    # the exact bytes verify took out (non-UTF-8 files survive), not the display text
    patch = ctx.deps.blobs.get(diff_key(task.id)).decode("utf-8", errors="surrogateescape")
    cr = ctx.deps.forge.publish(task.repo, task.base_branch, branch, patch, message, title, body)
    ctx.failpoint("publish.after_push")
    ctx.emit(EventKind.PR_CREATED, {"branch": cr.branch, "url": cr.url, "commit": cr.commit})
    ctx.log(f"pushed {cr.branch} ({cr.commit[:12]})")
    name = github_repo(task.repo, ctx.deps.github_app.web_url) if cr.number else None
    if name:  # comments on the pull request find their way back to this task
        ctx.deps.webhook_log.link_task(name, cr.number, task.id)
    ctx.advance(
        Status.SUMMARIZING,
        Stage.SUMMARIZE,
        branch=cr.branch,
        pr_url=cr.url,
        pr_number=cr.number or task.pr_number,
    )


def pr_body(t: Task, template: str = "", base_url: str = "") -> str:
    """The PR description: the repository's template when it has one, with our summary under
    its first summary-like heading and the rest appended; otherwise our own sections."""
    prompt = (
        t.prompt if len(t.prompt) <= MAX_PROMPT_IN_BODY else t.prompt[:MAX_PROMPT_IN_BODY] + " …"
    )
    summary = [f"Task: {prompt}", ""]
    o = t.origin
    if o is not None and not o.is_pull_request and not o.follow_up_of:
        summary += [f"Closes #{o.number}", ""]
    if t.plan:
        summary += [format_plan(t.plan), ""]
    details = [*_tests_section(t), *_conformance_section(t)]
    details += ["## Files", *[f"- {f}" for f in changed_files(t.diff)], ""]
    details += _errand_section(t, base_url)
    if template.strip():
        match = _SUMMARY_HEADING.search(template)
        if match:
            end = match.end()
            filled = template[:end] + "\n\n" + "\n".join(summary) + template[end:]
        else:
            filled = "\n".join(summary) + "\n\n" + template
        return filled.rstrip() + "\n\n" + "\n".join(details)
    return "\n".join(["## Summary", *summary, *details])


def _tests_section(t: Task) -> list[str]:
    r = t.tests
    if not r.suite_found:
        lines = ["## Tests", f"**Not verified by tests**: {check.describe(r)}."]
        if r.check_command:
            lines.append(f"Check proposed by the model (not the repository's): `{r.check_command}`")
        return [*lines, ""]
    lines = [
        "## Tests",
        f"Command: `{r.command}`",
        f"- before: {describe_counts(r.baseline)}",
        f"- after: {describe_counts(r.after)}" + (f" ({r.after_note})" if r.after_note else ""),
    ]
    for label, ids in (
        ("newly failing", r.newly_failing),
        ("newly passing", r.newly_passing),
        ("failing before and after", r.pre_existing),
        ("flaky (failed, then passed on rerun)", r.flaky),
        ("no longer reported", r.disappeared),
    ):
        if ids:
            lines.append(f"- {label}: " + ", ".join(ids[:20]) + (" …" if len(ids) > 20 else ""))
    return [*lines, ""]


def _errand_section(t: Task, base_url: str) -> list[str]:
    lines = ["## Errand"]
    if base_url:
        lines.append(f"- task: {task_url(base_url, t.id)}")
    if t.audio is not None and base_url:
        # the task page plays it: a blob URL would need a signature that soon expires
        where = f"{task_url(base_url, t.id)}#summary"
        lines.append(f"- spoken summary: {where} ({t.audio.duration_s:.0f} s)")
    elif t.audio is not None:
        lines.append(f"- spoken summary: recorded ({t.audio.duration_s:.0f} s)")
    else:
        lines.append("- spoken summary: linked here once it is recorded")
    lines.append(f"- tokens and cost: {cost_line(t)}")
    return [*lines, "", "Opened by Errand."]


def _conformance_section(t: Task) -> list[str]:
    c = t.conformance
    if not (c.unplanned_files or c.untouched_steps):
        return []
    lines = ["## Plan conformance"]
    if c.unplanned_files:
        lines.append("- changed outside the plan: " + ", ".join(c.unplanned_files))
    if c.untouched_steps:
        lines.append("- plan steps with no change: " + "; ".join(c.untouched_steps))
    return [*lines, ""]
