"""Pieces the model-driven stages share."""

from __future__ import annotations

from collections.abc import Callable

from jobs.agent.context_builder import build_context
from jobs.agent.context_cache import ContextCache
from jobs.agent.instructions import RepoInstructions
from jobs.agent.loop import LoopHooks
from jobs.agent.retrieval import litellm_token_counter
from jobs.context import StageContext
from jobs.prompts import render
from jobs.stages.tests_run import load_state
from shared import paths
from shared.domain import EventKind, Plan, Status, Task, TestCounts
from shared.errors import StageFailed
from shared.wiring import SCRIPTED_PREFIX


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


NO_SUITE_CONTEXT = (
    "(none: the repository has no tests, so nothing of its own will verify the change; the "
    "plan may propose a `check_command` that checks it without network, which verify runs and "
    "reports as your proposal)"
)
CONTEXT_BUDGET_TOKENS = 12_000
INSTRUCTIONS_BUDGET_CHARS = 8_000


def task_context(ctx: StageContext) -> str:
    """The task plus what the model should know of the repository: instructions (nearest
    AGENTS.md, CONTRIBUTING, README), the repo map and the files ranked against the task."""
    t = ctx.task
    if ctx.repo_dir.is_symlink() or not ctx.repo_dir.is_dir():
        # repository code ran in prepare; the trusted side must not be walked out of the tree
        raise StageFailed(
            "workspace_tampered",
            "the repository directory in the workspace was replaced (by a symlink or a file) "
            "during setup; Errand stopped rather than follow it",
        )
    state = load_state(ctx)
    # Read only: prepare stored the facts of the pristine checkout; files changed since are
    # read afresh, in memory.
    cached = ContextCache(paths.context_cache(ctx.deps.settings.home)).get(t.repo, state.base_sha)
    repo_text = build_context(
        ctx.repo_dir,
        state.base_sha,
        t.prompt,
        cached,
        CONTEXT_BUDGET_TOKENS,
        token_counter(t.model),
    )
    return render(
        "task_context",
        prompt=t.prompt,
        branch=t.base_branch or "(default)",
        test_command=t.tests.command or (NO_SUITE_CONTEXT if not t.tests.suite_found else "(none)"),
        baseline=describe_counts(t.tests.baseline),
        instructions=RepoInstructions.discover(ctx.repo_dir).for_task(
            budget_chars=INSTRUCTIONS_BUDGET_CHARS
        ),
        files=repo_text,
    )


def token_counter(model: str) -> Callable[[str], int]:
    """The model's tokenizer where litellm knows it; the scripted model is counted like a
    GPT-4o-class model so its contexts look like real ones."""
    name = "gpt-4o" if model.startswith(SCRIPTED_PREFIX) else model
    return litellm_token_counter(name)


def review_feedback(task: Task, kind: str) -> str | None:
    """The reviewer's feedback meant for this round of this stage, if any."""
    fb = task.feedback
    return fb.text if fb is not None and fb.kind == kind and fb.round == task.round else None


def format_plan(plan: Plan) -> str:
    lines = [plan.summary, ""]
    for i, step in enumerate(plan.steps, 1):
        files = f" (files: {', '.join(step.files)})" if step.files else ""
        lines.append(f"{i}. {step.title}{files}")
        if step.details:
            lines.append(f"   {step.details}")
    if plan.check_command:
        lines += [
            "",
            "Check proposed by the model (run only if the repository has no tests): "
            f"`{plan.check_command}`",
        ]
    return "\n".join(lines)
