"""What a test run's exit code and report mean: the SuiteResult of running a TestPlan. Pure:
the caller runs the command in the sandbox and reads the report file."""

from __future__ import annotations

from shared.domain import TestCounts
from shared.junit import parse_junit
from shared.test_reports import Outcome, SuiteResult, parse_go_json, parse_libtest
from shared.testsuite import TestPlan

READERS = {"junit": parse_junit, "go-json": parse_go_json, "libtest": parse_libtest}


def counts(result: SuiteResult) -> TestCounts:
    return TestCounts(
        passed=result.passed, failed=result.failed, errors=result.errors, skipped=result.skipped
    )


def result_from_exit(
    command: str, exit_code: int, timed_out: bool, timeout_s: float | None = None
) -> SuiteResult:
    """The whole suite as one test named `command`, judged by its exit code. A timeout is a
    failure, never a pass."""
    if timed_out:
        after = f" after {timeout_s:g} s" if timeout_s is not None else ""
        return SuiteResult.of({command: Outcome.FAILED}, f"timed out{after}", timed_out=True)
    if exit_code == 0:
        return SuiteResult.of({command: Outcome.PASSED})
    return SuiteResult.of({command: Outcome.FAILED}, f"exited with code {exit_code}")


def suite_result(
    plan: TestPlan,
    exit_code: int,
    timed_out: bool,
    junit_xml: str | None,
    timeout_s: float | None = None,
) -> SuiteResult:
    """The result of running `plan.test`: `junit_xml` is the report's text (None when the file
    is missing). A report with no failure from a command that failed gets one more failing
    test, `plan.display`, so that a crashed or misconfigured run never reads as green. A plan
    that promised a report and wrote none is an error whatever its exit code: a test run that
    ends the process early (`os._exit(0)` in a conftest) exits 0 without running anything."""
    if timed_out or plan.junit_path is None:
        return result_from_exit(plan.display, exit_code, timed_out, timeout_s)
    if not junit_xml or not junit_xml.strip():
        note = f"no JUnit report was written (exit code {exit_code})"
        return SuiteResult.of({plan.display: Outcome.ERROR}, note)
    parsed = READERS.get(plan.report_format, parse_junit)(junit_xml)
    if exit_code != 0 and not (parsed.failed or parsed.errors):
        outcomes = {**parsed.outcomes, plan.display: Outcome.ERROR}
        note = f"exited with code {exit_code} although no test failed"
        return SuiteResult.of(outcomes, note)
    return parsed
