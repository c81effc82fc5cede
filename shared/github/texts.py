"""What Errand writes on GitHub: the status comment for each phase of a task, the one-line test
verdict, the links. Pure: no IO."""

from __future__ import annotations

from shared.domain import Status, Task, TestCounts, TestReport

PHASES: dict[Status, str] = {
    Status.QUEUED: "started",
    Status.PREPARING: "started",
    Status.PLANNING: "started",
    Status.PLAN_REVIEW: "plan",
    Status.EXECUTING: "working",
    Status.VERIFYING: "working",
    Status.PUBLISHING: "working",
    Status.DIFF_REVIEW: "review",
    Status.SUMMARIZING: "published",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}
APPROVE_HINT = "Comment `/errand approve` to go ahead, or `/errand cancel` to stop."


def task_url(base_url: str, task_id: str) -> str:
    return f"{base_url.rstrip('/')}/tasks/{task_id}"


def _counts(c: TestCounts | None) -> str:
    if c is None:
        return "not run"
    parts = [f"{c.passed} passed"]
    parts += [f"{n} {label}" for n, label in ((c.failed, "failed"), (c.errors, "errors")) if n]
    return ", ".join(parts)


def one_line_verdict(t: TestReport) -> str:
    """Baseline → after, with what changed, in one line; never claims more than it knows."""
    if t.after is None:
        return f"before: {_counts(t.baseline)}; not run after the change"
    line = f"{_counts(t.baseline)} → {_counts(t.after)}"
    extra = [
        f"{len(ids)} {label}"
        for ids, label in (
            (t.newly_failing, "newly failing"),
            (t.newly_passing, "newly passing"),
            (t.flaky, "flaky"),
            (t.pre_existing, "failing before and after"),
        )
        if ids
    ]
    if t.after_note:
        extra.append(t.after_note)
    return line + (f" ({'; '.join(extra)})" if extra else "")


def cost_line(task: Task) -> str:
    u = task.usage
    return (
        f"${u.cost_usd:.4f} ({u.prompt_tokens:,} prompt + {u.completion_tokens:,} completion "
        "tokens)"
    )


def status_comment(task: Task, base_url: str) -> str:
    link = f"[task {task.id}]({task_url(base_url, task.id)})"
    phase = PHASES[task.status]
    if phase == "started":
        return (
            f"👀 **Errand is on it** — {link}\n\n"
            "Cloning the repository, installing its dependencies and running its tests "
            "before changing anything. This comment is updated as the task moves."
        )
    if phase == "plan":
        lines = [f"📋 **Plan ready for approval** — {link}", ""]
        if task.plan is not None:
            lines += [task.plan.summary, ""]
            for i, step in enumerate(task.plan.steps, 1):
                files = f" (`{'`, `'.join(step.files)}`)" if step.files else ""
                lines.append(f"- [ ] {i}. {step.title}{files}")
            lines.append("")
        lines.append(APPROVE_HINT + " The plan can be edited on the task page before approving.")
        return "\n".join(lines)
    if phase == "working":
        return (
            f"🛠️ **Working** — {link}\n\nThe plan is approved: Errand is changing the code, "
            "then runs the tests again and opens a draft pull request."
        )
    if phase == "review":
        return (
            f"⚠️ **Stopped for review** — {link}\n\n**Tests:** {one_line_verdict(task.tests)}"
            f"\n\nThe change is not published yet. {APPROVE_HINT}"
        )
    if phase == "published":
        return (
            f"✅ **Draft pull request opened:** {task.pr_url} — {link}\n\n"
            f"**Tests:** {one_line_verdict(task.tests)}\n\nRecording the spoken summary…"
        )
    if phase == "completed":
        lines = [
            f"✅ **Done:** {task.pr_url or 'no pull request'} — {link}",
            "",
            f"**Tests:** {one_line_verdict(task.tests)}",
        ]
        if task.audio is not None:
            lines.append(
                f"**Audio summary:** [listen]({task.audio.url}) ({task.audio.duration_s:.0f} s)"
            )
        lines.append(f"**Cost:** {cost_line(task)}")
        if task.pr_url:
            lines += [
                "",
                "Review the pull request; comment `/errand <instruction>` on it for more changes.",
            ]
        return "\n".join(lines)
    if phase == "failed":
        why = task.error.message if task.error else "no reason recorded"
        return f"❌ **Errand could not finish** — {link}\n\n{why}"
    return f"🛑 **Cancelled** — {link}"
