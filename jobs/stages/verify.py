"""verify: the tests again, compared with the baseline; the diff taken out of the sandbox as
data."""

from __future__ import annotations

from pydantic import JsonValue

from jobs.context import StageContext
from jobs.stages.common import describe_counts
from jobs.stages.tests_run import load_state, run_suite
from shared import safefs, testsuite
from shared.domain import EventKind, Stage, Status
from shared.errors import StageFailed

DIFF_REL = ".errand/diff.patch"
MAX_DIFF_BYTES = 5_000_000
# The dependency environment and caches never belong in the change.
EXCLUDES = "':(exclude)node_modules' ':(exclude).venv' ':(exclude)**/__pycache__'"


def run(ctx: StageContext) -> None:
    state = load_state(ctx)
    diff = take_diff(ctx, state.base_sha)
    if not diff.strip():
        raise StageFailed(
            "no_changes",
            "the agent finished without changing any file, so there is nothing to publish; "
            "rephrase the task or check the plan",
        )
    after = run_suite(ctx, state.test_plan)
    newly_failing, newly_passing = testsuite.compare(state.baseline, after)
    counts = testsuite.counts(after)
    tests = ctx.task.tests.model_copy(
        update={
            "after": counts,
            "newly_failing": newly_failing,
            "newly_passing": newly_passing,
            "after_note": after.note,
        }
    )
    failing: list[JsonValue] = list(newly_failing)
    passing: list[JsonValue] = list(newly_passing)
    ctx.emit(
        EventKind.TEST_RESULTS,
        {
            "phase": "after",
            "counts": counts.model_dump(),
            "newly_failing": failing,
            "newly_passing": passing,
        },
    )
    files: list[JsonValue] = list(changed_files(diff))
    ctx.emit(EventKind.DIFF_READY, {"bytes": len(diff.encode()), "files": files})
    ctx.log(
        f"after: {describe_counts(counts)}; newly failing {len(newly_failing)}, "
        f"newly passing {len(newly_passing)}"
    )
    ctx.deps.blobs.put(f"tasks/{ctx.task.id}/diff.patch", diff.encode(), "text/x-diff")
    if ctx.task.auto_approve:
        ctx.advance(Status.PUBLISHING, Stage.PUBLISH, diff=diff, tests=tests)
    else:
        ctx.move(Status.DIFF_REVIEW, diff=diff, tests=tests)
        ctx.log("diff ready: approve it with `errand task approve " + ctx.task.id + " --diff`")


def take_diff(ctx: StageContext, base_sha: str) -> str:
    """Computes the diff inside the sandbox (the trusted side never runs git on this tree) and
    reads the file it wrote without following symlinks."""
    command = (
        "mkdir -p /workspace/.errand && git add -A -- . "
        + EXCLUDES
        + " && git diff --cached --binary --no-color --no-ext-diff "
        + f"{base_sha} > /workspace/{DIFF_REL}"
    )
    result = ctx.sandbox(command, timeout_s=120)
    if result.exit_code != 0:
        raise StageFailed("diff_failed", f"could not compute the diff: {result.output[-800:]}")
    data = safefs.read_bytes(ctx.workspace, DIFF_REL, max_bytes=MAX_DIFF_BYTES)
    if data is None:
        raise StageFailed("diff_failed", "the diff file was not written as a regular file")
    return data.decode("utf-8", errors="replace")


def changed_files(diff: str) -> list[str]:
    files = []
    for line in diff.splitlines():
        if line.startswith("diff --git a/"):
            files.append(line.split(" b/", 1)[-1])
    return files
