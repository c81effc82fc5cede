"""What a test run reported, per test: the result model, and readers for the reports that are not
JUnit XML (see junit.py for those): `go test -json` and the text cargo test (libtest) prints.
Pure: text in, SuiteResult out. Formats defined by others are read tolerantly: lines that are
not part of the format are skipped; text with nothing of the format in it is refused.

A test reported more than once in one run (go test -count=N, a rerun plugin) takes its last
outcome; one that failed and then passed is flaky: it counts as passed and is listed in
`flaky`, so that it is reported as neither broken nor fixed."""

from __future__ import annotations

import json
import re
from enum import StrEnum

from pydantic import Field

from shared.domain import Model
from shared.errors import InvalidInput


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


FAILING = frozenset({Outcome.FAILED, Outcome.ERROR})


class SuiteResult(Model):
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    outcomes: dict[str, Outcome]
    flaky: list[str] = Field(default_factory=list)  # failed, then passed within this run
    note: str = ""
    timed_out: bool = False

    @classmethod
    def of(
        cls,
        outcomes: dict[str, Outcome],
        note: str = "",
        timed_out: bool = False,
        flaky: list[str] | None = None,
    ) -> SuiteResult:
        values = list(outcomes.values())
        return cls(
            passed=values.count(Outcome.PASSED),
            failed=values.count(Outcome.FAILED),
            errors=values.count(Outcome.ERROR),
            skipped=values.count(Outcome.SKIPPED),
            outcomes=outcomes,
            flaky=sorted(flaky or []),
            note=note,
            timed_out=timed_out,
        )


class Attempts:
    """Outcomes of tests that may be reported several times: the last one counts, and a test
    that failed before its final pass is flaky."""

    def __init__(self) -> None:
        self.final: dict[str, Outcome] = {}
        self.failed_once: set[str] = set()

    def add(self, test_id: str, outcome: Outcome) -> None:
        if outcome in FAILING:
            self.failed_once.add(test_id)
        self.final.pop(test_id, None)  # keep the order of the last report
        self.final[test_id] = outcome

    def result(self, note: str = "") -> SuiteResult:
        flaky = [t for t, o in self.final.items() if o == Outcome.PASSED and t in self.failed_once]
        return SuiteResult.of(self.final, note, flaky=flaky)


# ---------------------------------------------------------------------------- go test -json

_GO_OUTCOMES = {"pass": Outcome.PASSED, "fail": Outcome.FAILED, "skip": Outcome.SKIPPED}


def parse_go_json(text: str) -> SuiteResult:
    """Per-test outcomes from `go test -json` (test2json events, one JSON object a line). A
    test's id is `<package>::<test>` (subtests keep their `Parent/sub` names). A package that
    fails with no failing test (it did not build, its TestMain or a test crashed the binary)
    counts as one error named after the package."""
    attempts = Attempts()
    failed_packages: dict[str, str] = {}
    events = 0
    for line in text.splitlines():
        event = _json_object(line)
        if event is None or not isinstance(event.get("Action"), str):
            continue
        events += 1
        action, package, test = event["Action"], str(event.get("Package", "")), event.get("Test")
        if action not in _GO_OUTCOMES:
            continue
        if isinstance(test, str) and test:
            attempts.add(f"{package}::{test}", _GO_OUTCOMES[action])
        elif action == "fail":
            build = event.get("FailedBuild")
            failed_packages[package] = "did not build" if build else "failed"
    if not events:
        raise InvalidInput("test output is not `go test -json` output: no JSON test events")
    failing = {t.split("::", 1)[0] for t, o in attempts.final.items() if o in FAILING}
    notes = []
    for package, how in failed_packages.items():
        if package not in failing:
            attempts.add(package, Outcome.ERROR)
            notes.append(f"{package} {how} with no failing test reported")
    return attempts.result("; ".join(notes))


def _json_object(line: str) -> dict[str, object] | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------- cargo test

_RUNNING = re.compile(r"^\s*Running (?:unittests )?(\S+)(?: \((\S+)\))?\s*$")
_DOC_TESTS = re.compile(r"^\s*Doc-tests (\S+)\s*$")
_LIBTEST = re.compile(
    r"^test (.+?)(?: - should panic(?: with .*)?)? \.\.\. "
    r"(ok|FAILED|failed|ignored|bench)\b.*$"
)
_LIBTEST_OUTCOMES = {
    "ok": Outcome.PASSED,
    "bench": Outcome.PASSED,
    "FAILED": Outcome.FAILED,
    "failed": Outcome.FAILED,
    "ignored": Outcome.SKIPPED,
}
_HASH = re.compile(r"-[0-9a-f]{16}$")


def parse_libtest(text: str) -> SuiteResult:
    """Per-test outcomes from what `cargo test` prints (libtest's default format). A test's id
    is `<target>::<name>`, the target being the source of the test binary as cargo names it
    (`src/lib.rs`, `tests/api.rs`, `doc-tests <crate>`), so ids stay the same between builds."""
    attempts = Attempts()
    target, seen = "", False
    for raw in text.splitlines():
        line = raw.rstrip()
        if running := _RUNNING.match(line):
            source, binary = running.group(1), running.group(2)
            target = source if binary else _HASH.sub("", source.rsplit("/", 1)[-1])
            continue
        if doc := _DOC_TESTS.match(line):
            target = f"doc-tests {doc.group(1)}"
            continue
        if line.startswith("running ") or line.startswith("test result: "):
            seen = True
            continue
        if test := _LIBTEST.match(line):
            name = test.group(1).strip()
            attempts.add(f"{target}::{name}" if target else name, _LIBTEST_OUTCOMES[test.group(2)])
    if not (seen or attempts.final):
        raise InvalidInput("test output is not cargo test output: no 'running N tests' line")
    return attempts.result()
