"""Execute checkpoints: after every agent step the conversation, the usage so far and the
workspace's tree are saved, so an execution that dies is resumed from its last step by the next
delivery — the model is not asked (and paid) again for the steps already done.

The tree is written inside the sandbox (the trusted side runs no git on a tree untrusted code
touched); only its id and the conversation are kept, on the trusted side (blobs)."""

from __future__ import annotations

from pydantic import Field

from jobs.context import StageContext
from jobs.stages.tests_run import DIFF_EXCLUDES
from shared.domain import Model, Usage
from shared.errors import NotFound, StageFailed
from shared.ports import Message

_TREE_CHARS = (40, 64)


class Checkpoint(Model):
    round: int
    steps: int
    usage: Usage
    tree: str
    messages: list[Message] = Field(default_factory=list)


def checkpoint_key(task_id: str, round_: int) -> str:
    return f"tasks/{task_id}/checkpoints/execute-{round_}.json"


def save(ctx: StageContext, messages: list[Message], steps: int, usage: Usage) -> None:
    """Replaces the stage's checkpoint. When the workspace cannot be recorded (its disk is
    full: the model's own command filled it) the previous checkpoint stays, and the task goes
    on: a checkpoint only shortens a retry, and the model can free the space itself."""
    try:
        tree = write_tree(ctx)
    except StageFailed as exc:
        ctx.log(
            f"no checkpoint after step {steps} (a retry resumes from an earlier one): {exc.message}"
        )
        return
    point = Checkpoint(round=ctx.task.round, steps=steps, usage=usage, tree=tree, messages=messages)
    key = checkpoint_key(ctx.task.id, ctx.task.round)
    ctx.deps.blobs.put(key, point.model_dump_json().encode(), "application/json")


def load(ctx: StageContext) -> Checkpoint | None:
    try:
        data = ctx.deps.blobs.get(checkpoint_key(ctx.task.id, ctx.task.round))
    except NotFound:
        return None
    return Checkpoint.model_validate_json(data)


def write_tree(ctx: StageContext) -> str:
    result = ctx.quiet_sandbox(f"git add -A -- . {DIFF_EXCLUDES} && git write-tree")
    tree = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if result.exit_code != 0 or len(tree) not in _TREE_CHARS or not _is_hex(tree):
        raise StageFailed(
            "checkpoint_failed", f"could not record the workspace: {result.output[-500:]}"
        )
    return tree


def restore(ctx: StageContext, point: Checkpoint) -> None:
    """Puts the working tree back exactly as it was after the checkpoint's step: a step the
    execution died in may have half-written files."""
    if len(point.tree) not in _TREE_CHARS or not _is_hex(point.tree):
        raise StageFailed("checkpoint_invalid", "the execute checkpoint names no valid tree")
    result = ctx.quiet_sandbox(
        f"git read-tree {point.tree} && git checkout-index -a -f && git clean -fdq -- . "
        + DIFF_EXCLUDES
    )
    if result.exit_code != 0:
        raise StageFailed(
            "checkpoint_restore_failed",
            f"could not restore the workspace to step {point.steps}: {result.output[-500:]}; "
            "retry the task from the start (`errand task retry --from-start`)",
        )


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
