"""What the test runs mean, honestly: flaky tests are neither fixed nor broken, a timeout is a
failure, plan conformance is reported. Pure functions over SuiteResults."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from shared.domain import Conformance, Model, Plan
from shared.test_reports import FAILING, Outcome, SuiteResult


class Verdict(Model):
    newly_failing: list[str] = Field(default_factory=list)
    newly_passing: list[str] = Field(default_factory=list)
    pre_existing: list[str] = Field(default_factory=list)
    flaky: list[str] = Field(default_factory=list)
    disappeared: list[str] = Field(default_factory=list)


def flaky_between(first: SuiteResult, rerun: SuiteResult) -> list[str]:
    """Tests that failed in the first run and passed when the suite ran again."""
    return sorted(
        t
        for t, outcome in first.outcomes.items()
        if outcome in FAILING and rerun.outcomes.get(t) == Outcome.PASSED
    )


def has_failures(result: SuiteResult) -> bool:
    return any(o in FAILING for o in result.outcomes.values())


def classify(baseline: SuiteResult, after: SuiteResult, flaky: Iterable[str] = ()) -> Verdict:
    """Each failure after the change is new, pre-existing or flaky; a baseline failure that
    now passes is newly passing unless it was seen flaking."""
    flaky_set = set(flaky)
    before = baseline.outcomes
    failing_after = {t for t, o in after.outcomes.items() if o in FAILING}
    failing_before = {t for t, o in before.items() if o in FAILING}
    if after.timed_out and not baseline.timed_out:
        # the change made the suite hang: whatever failed before, this failure is new
        failing_before -= failing_after
    passing_after = {t for t, o in after.outcomes.items() if o == Outcome.PASSED}
    return Verdict(
        newly_failing=sorted(failing_after - failing_before - flaky_set),
        newly_passing=sorted((passing_after & failing_before) - flaky_set),
        pre_existing=sorted((failing_after & failing_before) - flaky_set),
        flaky=sorted(flaky_set & (set(after.outcomes) | set(before))),
        disappeared=sorted(set(before) - set(after.outcomes)),
    )


def needs_review(v: Verdict) -> list[str]:
    """Reasons not to publish without a person looking: tests that newly fail, and tests the
    baseline ran that are no longer reported (deleted, renamed, or never reached)."""
    reasons = []
    if v.newly_failing:
        reasons.append(f"{len(v.newly_failing)} tests newly fail")
    if v.disappeared:
        reasons.append(f"{len(v.disappeared)} tests are no longer reported")
    return reasons


def conformance(plan: Plan, changed: list[str]) -> Conformance:
    """Files changed that no step named, and steps naming files of which none changed. Steps
    that name no file (e.g. "run the tests") are not judged."""
    changed_set = {_norm(f) for f in changed}
    planned = {_norm(f) for step in plan.steps for f in step.files}
    return Conformance(
        unplanned_files=sorted(f for f in changed_set if f not in planned),
        untouched_steps=[
            s.title
            for s in plan.steps
            if s.files and not ({_norm(f) for f in s.files} & changed_set)
        ],
    )


def _norm(path: str) -> str:
    path = path.strip().removesuffix(" (new)")
    return path.removeprefix("./").removeprefix("/workspace/repo/").strip("/")
