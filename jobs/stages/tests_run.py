"""Running the repository's test suite in the sandbox and reading its results (JUnit XML where
the runner writes it, the exit code otherwise)."""

from __future__ import annotations

from jobs.context import StageContext
from shared import safefs, testsuite
from shared.domain import Model
from shared.errors import InvalidInput
from shared.testsuite import SuiteResult, TestPlan

JUNIT_REL = ".errand/junit.xml"
JUNIT_ABS = "/workspace/" + JUNIT_REL


class PrepState(Model):
    """What prepare learned, kept on the trusted side (blobs) rather than in the workspace the
    sandbox can write to."""

    base_sha: str
    test_plan: TestPlan
    baseline: SuiteResult


def state_key(task_id: str) -> str:
    return f"tasks/{task_id}/prepare.json"


def load_state(ctx: StageContext) -> PrepState:
    return PrepState.model_validate_json(ctx.deps.blobs.get(state_key(ctx.task.id)))


def run_suite(ctx: StageContext, plan: TestPlan) -> SuiteResult:
    timeout = ctx.deps.settings.test_timeout_s
    command = f"mkdir -p /workspace/.errand && rm -f {JUNIT_ABS} && {plan.test}"
    result = ctx.sandbox(command, timeout_s=timeout)
    ctx.log(result.output[-3000:], exit_code=result.exit_code)
    if result.timed_out:
        return testsuite.result_from_exit(
            plan.test, result.exit_code, timed_out=True, timeout_s=timeout
        )
    if plan.junit_path:
        xml = safefs.read_text(ctx.workspace, JUNIT_REL, max_bytes=50_000_000)
        if xml is not None:
            try:
                return testsuite.parse_junit(xml)
            except InvalidInput as exc:
                ctx.log(f"could not read the JUnit report ({exc.message}); using the exit code")
        else:
            ctx.log("the test runner wrote no JUnit report; using the exit code")
    return testsuite.result_from_exit(plan.test, result.exit_code, timed_out=False)
