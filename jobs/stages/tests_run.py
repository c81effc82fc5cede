"""Running the repository's test suite in the sandbox and reading its results (JUnit XML where
the runner writes it, the exit code otherwise)."""

from __future__ import annotations

from jobs.context import StageContext
from shared import safefs, testsuite
from shared.domain import Model
from shared.errors import InvalidInput
from shared.testsuite import SuiteResult, TestPlan

# the report path relative to the workspace, for reading it without following symlinks
JUNIT_REL = testsuite.JUNIT_PATH.removeprefix("/workspace/")


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
    result = ctx.sandbox(plan.test, timeout_s=timeout)
    ctx.log(result.output[-3000:], exit_code=result.exit_code)
    xml = None
    if plan.junit_path and not result.timed_out:
        xml = safefs.read_text(ctx.workspace, JUNIT_REL, max_bytes=50_000_000)
    try:
        return testsuite.suite_result(plan, result.exit_code, result.timed_out, xml, timeout)
    except InvalidInput as exc:
        ctx.log(f"could not read the JUnit report ({exc.message}); judging by the exit code")
        return testsuite.suite_result(plan, result.exit_code, result.timed_out, None, timeout)
