"""Pieces the model-driven stages share."""

from __future__ import annotations

from jobs.agent import repo_context
from jobs.agent.loop import LoopHooks
from jobs.context import StageContext
from jobs.prompts import render
from shared.domain import EventKind, Plan, Status, TestCounts


def hooks(ctx: StageContext) -> LoopHooks:
    def on_tool(name: str, arguments: str, result: str) -> None:
        ctx.emit(
            EventKind.TOOL,
            {
                "tool": name,
                "arguments": ctx.scrub(arguments[:2000]),
                "result": ctx.scrub(result[-2000:]),
            },
        )

    def status() -> Status:
        return ctx.refresh().status

    return LoopHooks(on_usage=ctx.record_usage, on_tool=on_tool, status=status)


def describe_counts(c: TestCounts | None) -> str:
    if c is None:
        return "not run"
    return f"{c.passed} passed, {c.failed} failed, {c.errors} errors, {c.skipped} skipped"


def task_context(ctx: StageContext) -> str:
    t = ctx.task
    return render(
        "task_context",
        prompt=t.prompt,
        branch=t.base_branch or "(default)",
        test_command=t.tests.command or "(none)",
        baseline=describe_counts(t.tests.baseline),
        instructions=repo_context.instructions(ctx.repo_dir),
        files=repo_context.format_files(repo_context.list_files(ctx.repo_dir)),
    )


def format_plan(plan: Plan) -> str:
    lines = [plan.summary, ""]
    for i, step in enumerate(plan.steps, 1):
        files = f" (files: {', '.join(step.files)})" if step.files else ""
        lines.append(f"{i}. {step.title}{files}")
        if step.details:
            lines.append(f"   {step.details}")
    return "\n".join(lines)
