"""execute: the tool loop that changes the code, inside the sandbox, without network."""

from __future__ import annotations

from pydantic import JsonValue

from jobs.agent import tools
from jobs.agent.file_tools import FileTools
from jobs.agent.loop import AgentLoop, Done
from jobs.agent.output import head_tail
from jobs.context import StageContext
from jobs.prompts import render
from jobs.stages import checkpoint
from jobs.stages.common import format_plan, hooks, task_context
from jobs.stages.tests_run import load_state
from jobs.stages.verify import feedback_key
from shared.domain import Stage, Status, Usage
from shared.errors import StageFailed
from shared.ports import Message


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
        ctx.failpoint("execute.after_command")
        note = f" ({result.limit} limit hit)" if result.limit else ""
        return f"exit code {result.exit_code}{note}\n{head_tail(result.output, 20_000, 400)}"

    # not ctx.sandbox(): these commands carry a helper script not worth logging
    files = FileTools(ctx.quiet_sandbox, ctx.workspace)

    def finish(args: dict[str, JsonValue]) -> str:
        raise Done(str(args.get("summary", "")))

    round_ = ctx.task.round
    label = Stage.EXECUTE.value if round_ == 0 else f"{Stage.EXECUTE.value}-{round_}"
    loop_hooks = hooks(ctx)

    def on_step(msgs: list[Message], steps: int, usage: Usage) -> None:
        checkpoint.save(ctx, msgs, steps, usage)
        ctx.failpoint("execute.after_step")

    loop_hooks.on_step = on_step
    loop = AgentLoop(
        model=ctx.deps.model(ctx.task.model, label),
        tools=[tools.BASH, *files.specs, tools.FINISH],
        handlers={"bash": bash, **files.handlers, "finish": finish},
        on_text=files.apply_text,
        budgets=settings.budgets,
        hooks=loop_hooks,
        spent=ctx.task.usage,
    )
    resumed = checkpoint.load(ctx)
    if resumed is not None:
        checkpoint.restore(ctx, resumed)
        loop.steps, loop.usage, ctx.usage = resumed.steps, resumed.usage, resumed.usage
        ctx.log(f"resuming from the checkpoint after step {resumed.steps}")
        messages = list(resumed.messages)
    else:
        messages = first_messages(ctx)
    try:
        loop.run(messages)
    except Done as done:
        ctx.log(f"agent finished: {done.result}")
    ctx.advance(Status.VERIFYING, Stage.VERIFY)


def first_messages(ctx: StageContext) -> list[Message]:
    assert ctx.task.plan is not None
    round_ = ctx.task.round
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
    return messages
