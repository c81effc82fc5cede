"""plan: the model explores read-only and calls submit_plan."""

from __future__ import annotations

from pathlib import Path

from pydantic import JsonValue, ValidationError

from jobs.agent import tools
from jobs.agent.file_tools import VIEW, FileTools
from jobs.agent.loop import AgentLoop, Done
from jobs.agent.output import head_tail
from jobs.context import StageContext
from jobs.prompts import render
from jobs.stages.common import format_plan, hooks, review_feedback, task_context
from shared import safefs
from shared.domain import EventKind, Plan, Stage, Status
from shared.errors import StageFailed
from shared.ports import CommandResult, Message

PLAN_MAX_STEPS = 15


def run(ctx: StageContext) -> None:
    settings = ctx.deps.settings

    def bash(args: dict[str, JsonValue]) -> str:
        command = str(args["command"])
        result = ctx.sandbox(command, timeout_s=min(60.0, settings.command_timeout_s))
        return f"exit code {result.exit_code}\n{head_tail(result.output, 20_000, 400)}"

    def files_run(command: str) -> CommandResult:
        result = ctx.deps.sandbox().run(
            ctx.workspace, command, cwd="/workspace/repo", timeout_s=120
        )
        ctx.deps.timings.sandbox_s += result.duration_s
        return result

    # Read-only exploration: `view` (files with line numbers, directory listings) and `bash`
    # for grep/ls, both in the sandbox without network, within the plan's step budget.
    view = FileTools(files_run, ctx.workspace).handlers["view"]

    def submit_plan(args: dict[str, JsonValue]) -> str:
        try:
            plan = Plan.model_validate(args)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            return (
                f"error: the plan does not match the schema ({where}: {problem['msg']}); resubmit"
            )
        missing = missing_files(ctx.repo_dir, plan)
        if missing:
            return (
                "error: these files do not exist: "
                + ", ".join(missing)
                + f"; fix the paths (relative to the repository root) or mark files the plan "
                f"creates with the suffix '{NEW_MARK}'"
            )
        raise Done(plan.model_dump(mode="json"))

    budgets = settings.budgets.model_copy(
        update={"max_steps": min(settings.budgets.max_steps, PLAN_MAX_STEPS)}
    )
    feedback = review_feedback(ctx.task, "plan")
    label = Stage.PLAN.value if feedback is None else f"{Stage.PLAN.value}-{ctx.task.round}"
    loop = AgentLoop(
        model=ctx.deps.model(ctx.task.model, label, task=ctx.task),
        tools=[tools.SUBMIT_PLAN, VIEW, tools.BASH],
        handlers={"submit_plan": submit_plan, "view": view, "bash": bash},
        budgets=budgets,
        hooks=hooks(ctx),
        spent=ctx.task.usage,
    )
    messages = [
        Message(role="system", content=render("plan_system")),
        Message(role="user", content=task_context(ctx)),
    ]
    if feedback is not None and ctx.task.plan is not None:
        messages.append(
            Message(
                role="user",
                content=render("plan_rejected", plan=format_plan(ctx.task.plan), feedback=feedback),
            )
        )
    try:
        loop.run(messages)
    except Done as done:
        plan = Plan.model_validate(done.result)
    else:  # pragma: no cover - run() only returns by raising
        raise StageFailed("no_plan", "the model stopped without submitting a plan")
    ctx.failpoint("plan.after_model")
    ctx.emit(EventKind.PLAN_READY, {"plan": plan.model_dump(mode="json")})
    if ctx.task.auto_approve:
        ctx.advance(Status.EXECUTING, Stage.EXECUTE, plan=plan)
    else:
        ctx.move(Status.PLAN_REVIEW, plan=plan)
        ctx.log("plan ready: approve it with `errand task approve " + ctx.task.id + " --plan`")


NEW_MARK = " (new)"


def missing_files(repo_dir: Path, plan: Plan) -> list[str]:
    """Files a step names that are neither in the repository nor marked as new."""
    out = []
    for step in plan.steps:
        for name in step.files:
            if name.endswith(NEW_MARK):
                continue
            rel = name.strip().removeprefix("./").removeprefix("/workspace/repo/")
            if not rel or safefs.kind(repo_dir, rel) is None:
                out.append(name)
    return out
