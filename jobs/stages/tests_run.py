"""Running the repository's test suite in the sandbox and reading its results (JUnit XML where
the runner writes it, the exit code otherwise)."""

from __future__ import annotations

from pydantic import Field

from jobs.context import StageContext
from shared import safefs, suite_results, testsuite, verdict
from shared.domain import Model
from shared.errors import InvalidInput
from shared.test_reports import FAILING, SuiteResult
from shared.testsuite import TestPlan

# The dependency environment and caches never belong in the change.
DIFF_EXCLUDES = (
    "':(exclude,glob)**/node_modules/**' ':(exclude).venv' ':(exclude,glob)**/__pycache__/**'"
)

# the report path relative to the workspace, for reading it without following symlinks
JUNIT_REL = testsuite.JUNIT_PATH.removeprefix("/workspace/")


class PrepState(Model):
    """What prepare learned, kept on the trusted side (blobs) rather than in the workspace the
    sandbox can write to."""

    base_sha: str
    # the tree after install and baseline: the agent's diff is taken against it, so files the
    # install wrote into the repository (e.g. *.egg-info) never land in the change
    base_tree: str = ""
    test_plan: TestPlan | None  # None: the repository has no tests (see jobs.stages.check)
    baseline: SuiteResult | None
    baseline_flaky: list[str] = Field(default_factory=list)
    pr_template: str = ""  # read before any untrusted code ran
    execute_network: bool = False  # the repository's .errand.toml asked for it


class SuiteRun(Model):
    result: SuiteResult
    flaky: list[str] = Field(default_factory=list)
    output: str = ""


def state_key(task_id: str) -> str:
    return f"tasks/{task_id}/prepare.json"


def load_state(ctx: StageContext) -> PrepState:
    return PrepState.model_validate_json(ctx.deps.blobs.get(state_key(ctx.task.id)))


def run_suite(ctx: StageContext, plan: TestPlan) -> SuiteRun:
    """Runs the suite; when something fails, runs it once more so that a test which fails and
    then passes is reported as flaky rather than as broken or fixed. Tests the report itself
    shows failing and then passing (a rerun plugin's) are flaky too."""
    first, output = _run_once(ctx, plan)
    if first.timed_out or not verdict.has_failures(first):
        return SuiteRun(result=first, flaky=first.flaky, output=output)
    ctx.log("some tests failed; running the suite again to tell flaky tests apart")
    rerun, _ = _run_once(ctx, plan)
    flaky = sorted({*first.flaky, *verdict.flaky_between(first, rerun)})
    return SuiteRun(result=first, flaky=flaky, output=output)


def _run_once(ctx: StageContext, plan: TestPlan) -> tuple[SuiteResult, str]:
    timeout = ctx.deps.settings.test_timeout_s
    result = ctx.sandbox(plan.test, timeout_s=timeout)
    if result.timed_out:
        ctx.log(
            f"the test suite was stopped after {timeout:g} s (ERRAND_TEST_TIMEOUT_S)",
            exit_code=result.exit_code,
        )
    xml = None
    if plan.junit_path and not result.timed_out:
        xml = safefs.read_text(ctx.workspace, JUNIT_REL, max_bytes=50_000_000)
    try:
        suite = suite_results.suite_result(plan, result.exit_code, result.timed_out, xml, timeout)
    except InvalidInput as exc:
        ctx.log(f"could not read the JUnit report ({exc.message}); judging by the exit code")
        suite = suite_results.suite_result(plan, result.exit_code, result.timed_out, None, timeout)
    failing = sorted(t for t, o in suite.outcomes.items() if o in FAILING)
    named = f": {', '.join(failing[:20])}{' …' if len(failing) > 20 else ''}" if failing else ""
    ctx.log(
        f"tests ran in {result.duration_s:.1f} s, exit code {result.exit_code}; "
        f"{suite.passed} passed, {suite.failed} failed, {suite.errors} errors{named}",
        exit_code=result.exit_code,
    )
    return suite, result.output
