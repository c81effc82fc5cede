"""execute: the tool loop that changes the code, inside the sandbox, without network."""

from __future__ import annotations

from pydantic import JsonValue

from jobs.agent import tools
from jobs.agent.file_tools import FileTools
from jobs.agent.loop import AgentLoop, Done
from jobs.agent.output import head_tail
from jobs.context import StageContext
from jobs.prompts import render
from jobs.stages.common import format_plan, hooks, task_context
from jobs.stages.tests_run import load_state
from jobs.stages.verify import feedback_key
from shared.domain import Stage, Status
from shared.errors import StageFailed
from shared.ports import CommandResult, Message


def run(ctx: StageContext) -> None:
    settings = ctx.deps.settings
    if ctx.task.plan is None:
        raise StageFailed("no_plan", "the task reached execute without a plan; create it again")

    network = load_state(ctx).execute_network
    if network:
        ctx.log("the repository's .errand.toml allows egress network during execute")

    def bash(args: dict[str, JsonValue]) -> str:
        command = args["command"]
        if not isinstance(command, str) or not command.strip():
            raise ValueError("'command' must be a non-empty string")
        result = ctx.sandbox(command, timeout_s=settings.command_timeout_s, network=network)
        note = f" ({result.limit} limit hit)" if result.limit else ""
        return f"exit code {result.exit_code}{note}\n{head_tail(result.output, 20_000, 400)}"

    def files_run(command: str) -> CommandResult:
        # not ctx.sandbox(): these commands carry a helper script not worth logging
        result = ctx.deps.sandbox().run(
            ctx.workspace, command, cwd="/workspace/repo", timeout_s=120
        )
        ctx.deps.timings.sandbox_s += result.duration_s
        return result

    files = FileTools(files_run, ctx.workspace)

    def finish(args: dict[str, JsonValue]) -> str:
        raise Done(str(args.get("summary", "")))

    round_ = ctx.task.round
    label = Stage.EXECUTE.value if round_ == 0 else f"{Stage.EXECUTE.value}-{round_}"
    loop = AgentLoop(
        model=ctx.deps.model(ctx.task.model, label, task=ctx.task),
        tools=[tools.BASH, *files.specs, tools.FINISH],
        handlers={"bash": bash, **files.handlers, "finish": finish},
        on_text=files.apply_text,
        budgets=settings.budgets,
        hooks=hooks(ctx),
        spent=ctx.task.usage,
    )
    messages = [
        Message(role="system", content=render("execute_system")),
        Message(
            role="user",
            content=render(
                "execute_user", context=task_context(ctx), plan=format_plan(ctx.task.plan)
            ),
        ),
    ]
    if round_ > 0:
        feedback = ctx.deps.blobs.get(feedback_key(ctx.task.id, round_)).decode()
        messages.append(
            Message(
                role="user",
                content=f"Fix round {round_}: your earlier change is still in the working "
                f"tree.\n\n{feedback}\n\nFix the failures, then call finish.",
            )
        )
    try:
        loop.run(messages)
    except Done as done:
        ctx.log(f"agent finished: {done.result}")
    ctx.advance(Status.VERIFYING, Stage.VERIFY)
