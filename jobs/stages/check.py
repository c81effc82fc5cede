"""A repository without tests: the task runs anyway, the verdict says plainly that nothing of
the repository's own verified the change, and a check command the model proposed in its plan
(if any) runs instead, always reported as the model's proposal."""

from __future__ import annotations

from jobs.context import StageContext
from jobs.stages.tests_run import PrepState, state_key
from shared.domain import TestReport

NO_SUITE_NOTE = "the repository has no tests Errand can find, so no test suite verifies the change"
UNVERIFIED = "the repository has no tests, so nothing of its own verified the change"


def save_state(
    ctx: StageContext, base_sha: str, base_tree: str, pr_template: str, execute_network: bool
) -> None:
    """prepare's state for a repository without tests: no test plan, no baseline."""
    state = PrepState(
        base_sha=base_sha,
        base_tree=base_tree,
        test_plan=None,
        baseline=None,
        pr_template=pr_template,
        execute_network=execute_network,
    )
    ctx.deps.blobs.put(state_key(ctx.task.id), state.model_dump_json().encode(), "application/json")


def run_check(ctx: StageContext) -> tuple[TestReport, str]:
    """Runs the plan's check command in the sandbox (no network); the report and the output."""
    tests = ctx.task.tests.model_copy(update={"suite_found": False})
    command = ctx.task.plan.check_command.strip() if ctx.task.plan else ""
    if not command:
        ctx.log(f"{NO_SUITE_NOTE}; the plan proposed no check command, so none ran")
        return tests.model_copy(update={"check_command": "", "check_exit_code": None}), ""
    ctx.log(f"running the check the model proposed (not the repository's tests): {command}")
    result = ctx.sandbox(command, timeout_s=ctx.deps.settings.test_timeout_s)
    ctx.log(result.output[-3000:], exit_code=result.exit_code)
    note = ""
    if result.timed_out:
        note = f"timed out after {ctx.deps.settings.test_timeout_s:.0f} s"
    elif result.limit:
        note = f"stopped by the {result.limit} limit"
    report = tests.model_copy(
        update={"check_command": command, "check_exit_code": result.exit_code, "check_note": note}
    )
    return report, result.output


def failed(t: TestReport) -> bool:
    return not t.suite_found and t.check_exit_code not in (None, 0)


def describe(t: TestReport) -> str:
    """The verdict for a repository without tests, in plain words."""
    if not t.check_command:
        return f"{UNVERIFIED}; no check was run"
    if t.check_exit_code is None:
        return f"{UNVERIFIED}; the check the model proposed (`{t.check_command}`) did not run"
    outcome = "passed" if t.check_exit_code == 0 else f"failed (exit code {t.check_exit_code})"
    note = f", {t.check_note}" if t.check_note else ""
    return (
        f"{UNVERIFIED}; a check the model proposed, not the repository's own tests, "
        f"(`{t.check_command}`) {outcome}{note}"
    )


def feedback(t: TestReport, output: str) -> str:
    return (
        f"The check you proposed (`{t.check_command}`) fails after your change "
        f"(exit code {t.check_exit_code}{', ' + t.check_note if t.check_note else ''}).\n\n"
        f"Output (tail):\n{output[-6000:]}"
    )
