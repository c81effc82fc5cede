"""verify: the tests again, compared with the baseline; the diff taken out of the sandbox as
data."""

from __future__ import annotations

from pydantic import JsonValue

from jobs.context import StageContext
from jobs.stages import check
from jobs.stages.common import describe_counts
from jobs.stages.tests_run import DIFF_EXCLUDES, load_state, run_suite
from shared import safefs, suite_results, verdict
from shared.domain import Conformance, EventKind, Stage, Status, TestReport
from shared.errors import StageFailed

DIFF_REL = ".errand/diff.patch"
MAX_DIFF_BYTES = 5_000_000


def run(ctx: StageContext) -> None:
    state = load_state(ctx)
    task = ctx.task
    raw = take_diff(ctx, state.base_tree or state.base_sha)
    diff = raw.decode("utf-8", errors="replace")  # for people; publish uses the raw bytes
    if not diff.strip():
        raise StageFailed(
            "no_changes",
            "the agent finished without changing any file, so there is nothing to publish; "
            "rephrase the task or check the plan",
        )
    files = changed_files(diff)
    conf = verdict.conformance(task.plan, files) if task.plan else Conformance()
    if state.test_plan is None or state.baseline is None:
        tests, output = check.run_check(ctx)
        ctx.failpoint("verify.after_tests")
        listed: list[JsonValue] = list(files)
        ctx.emit(EventKind.DIFF_READY, {"bytes": len(diff.encode()), "files": listed})
        ctx.log(check.describe(tests))
        problem = "the check the model proposed fails" if check.failed(tests) else ""
        fix = check.feedback(tests, output) if problem else ""
        reasons = [problem] if problem else []
    else:
        run_after = run_suite(ctx, state.test_plan)
        ctx.failpoint("verify.after_tests")
        after = run_after.result
        v = verdict.classify(state.baseline, after, [*state.baseline_flaky, *run_after.flaky])
        tests = task.tests.model_copy(
            update={
                "after": suite_results.counts(after),
                "after_note": after.note,
                **v.model_dump(),
            }
        )
        report(ctx, diff, tests, files, conf)
        problem = f"{len(v.newly_failing)} tests newly fail" if v.newly_failing else ""
        fix = failure_feedback(v.newly_failing, after.note, run_after.output) if problem else ""
        reasons = verdict.needs_review(v)
        if reasons:
            reasons[-1] += f" ({', '.join([*v.newly_failing, *v.disappeared][:5])})"
    ctx.deps.blobs.put(diff_key(task.id), raw, "text/x-diff")
    changes: dict[str, object] = {"diff": diff, "tests": tests, "conformance": conf}
    if problem and task.fixes < ctx.deps.settings.fix_rounds:
        ctx.deps.blobs.put(feedback_key(task.id, task.round + 1), fix.encode(), "text/plain")
        ctx.log(
            f"{problem}; sending the task back to execute "
            f"(fix round {task.fixes + 1} of {ctx.deps.settings.fix_rounds})"
        )
        changes.update(round=task.round + 1, fixes=task.fixes + 1)
        ctx.advance(Status.EXECUTING, Stage.EXECUTE, **changes)
    elif reasons:
        ctx.move(Status.DIFF_REVIEW, **changes)
        ctx.log(
            f"stopped for review after {task.fixes} fix rounds: {'; '.join(reasons)}; review "
            "the diff before publishing it"
        )
    elif task.publishes_without_review:
        ctx.advance(Status.PUBLISHING, Stage.PUBLISH, **changes)
    else:
        ctx.move(Status.DIFF_REVIEW, **changes)
        ctx.log("diff ready: approve it with `errand task approve " + task.id + " --diff`")


def report(
    ctx: StageContext, diff: str, tests: TestReport, files: list[str], conf: Conformance
) -> None:
    assert tests.after is not None
    payload: dict[str, JsonValue] = {"phase": "after", "counts": tests.after.model_dump()}
    for name in ("newly_failing", "newly_passing", "pre_existing", "flaky", "disappeared"):
        ids: list[JsonValue] = list(getattr(tests, name))
        payload[name] = ids
    ctx.emit(EventKind.TEST_RESULTS, payload)
    listed: list[JsonValue] = list(files)
    ctx.emit(EventKind.DIFF_READY, {"bytes": len(diff.encode()), "files": listed})
    ctx.log(
        f"after: {describe_counts(tests.after)}; newly failing {len(tests.newly_failing)}, "
        f"newly passing {len(tests.newly_passing)}, flaky {len(tests.flaky)}"
    )
    if conf.unplanned_files or conf.untouched_steps:
        ctx.log(
            f"plan conformance: files outside the plan {conf.unplanned_files}; "
            f"steps with no change {conf.untouched_steps}"
        )


def feedback_key(task_id: str, round_: int) -> str:
    return f"tasks/{task_id}/fix-{round_}.txt"


def failure_feedback(failing: list[str], note: str, output: str) -> str:
    lines = ["After your change these tests fail (they passed or did not exist before):"]
    lines += [f"- {t}" for t in failing]
    if note:
        lines.append(f"Note: {note}")
    lines += ["", "Test output (tail):", output[-6000:]]
    return "\n".join(lines)


def diff_key(task_id: str) -> str:
    return f"tasks/{task_id}/diff.patch"


def take_diff(ctx: StageContext, base: str) -> bytes:
    """Computes the diff inside the sandbox (the trusted side never runs git on this tree) and
    reads the file it wrote without following symlinks."""
    command = (
        "mkdir -p /workspace/.errand && git add -A -- . "
        + DIFF_EXCLUDES
        + " && git diff --cached --binary --no-color --no-ext-diff --no-textconv "
        + f"{base} > /workspace/{DIFF_REL}"
    )
    result = ctx.sandbox(command, timeout_s=120)
    if result.exit_code != 0:
        raise StageFailed("diff_failed", f"could not compute the diff: {result.output[-800:]}")
    data = safefs.read_bytes(ctx.workspace, DIFF_REL, max_bytes=MAX_DIFF_BYTES)
    if data is None:
        raise StageFailed("diff_failed", "the diff file was not written as a regular file")
    return data


def changed_files(diff: str) -> list[str]:
    files = []
    for line in diff.splitlines():
        if line.startswith("diff --git a/"):
            files.append(line.split(" b/", 1)[-1])
    return files
