from __future__ import annotations

from shared.domain import Plan, PlanStep
from shared.test_reports import Outcome, SuiteResult
from shared.verdict import classify, conformance, flaky_between

P, F, E = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR


def run(**outcomes: Outcome) -> SuiteResult:
    return SuiteResult.of(dict(outcomes))


def test_classifies_new_preexisting_fixed() -> None:
    baseline = run(a=P, b=F, c=F)
    after = run(a=F, b=F, c=P, d=E)
    v = classify(baseline, after)
    assert v.newly_failing == ["a", "d"]
    assert v.pre_existing == ["b"]
    assert v.newly_passing == ["c"]
    assert v.flaky == [] and v.disappeared == []


def test_a_test_that_fails_then_passes_on_rerun_is_flaky_not_fixed() -> None:
    baseline = run(a=F, b=P)
    baseline_rerun = run(a=P, b=P)
    flaky = flaky_between(baseline, baseline_rerun)
    assert flaky == ["a"]
    v = classify(baseline, run(a=P, b=P), flaky)
    assert v.newly_passing == [] and v.flaky == ["a"]


def test_flaky_after_the_change_is_not_newly_failing() -> None:
    after, rerun = run(a=F, b=P), run(a=P, b=P)
    v = classify(run(a=P, b=P), after, flaky_between(after, rerun))
    assert v.newly_failing == [] and v.flaky == ["a"]


def test_timeout_is_a_failure_and_tests_that_vanish_are_reported() -> None:
    baseline = run(a=P, b=P)
    timed_out = SuiteResult.of({"pytest": F}, "timed out after 5 s", timed_out=True)
    v = classify(baseline, timed_out)
    assert v.newly_failing == ["pytest"]
    assert v.disappeared == ["a", "b"]


def test_conformance_reports_unplanned_files_and_untouched_steps() -> None:
    plan = Plan(
        summary="s",
        steps=[
            PlanStep(title="fix calc", files=["calc.py"]),
            PlanStep(title="docs", files=["./README.md"]),
            PlanStep(title="run tests"),
        ],
    )
    c = conformance(plan, ["calc.py", "setup.py"])
    assert c.unplanned_files == ["setup.py"]
    assert c.untouched_steps == ["docs"]


def test_a_hang_after_the_change_is_new_even_if_the_suite_failed_before() -> None:
    baseline = SuiteResult.of({"npm test": F})
    hung = SuiteResult.of({"npm test": F}, "timed out after 5 s", timed_out=True)
    v = classify(baseline, hung)
    assert v.newly_failing == ["npm test"] and v.pre_existing == []


def test_deleted_or_skipped_failures_are_not_fixed_and_need_review() -> None:
    from shared.verdict import needs_review

    baseline = run(a=F, b=P)
    after = run(b=P, a=Outcome.SKIPPED)
    v = classify(baseline, after)
    assert v.newly_passing == []
    gone = classify(baseline, run(b=P))
    assert gone.disappeared == ["a"] and needs_review(gone) == ["1 tests are no longer reported"]
    assert needs_review(classify(run(a=P), run(a=P))) == []
