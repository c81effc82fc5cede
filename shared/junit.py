"""Reading JUnit XML reports (pytest, node --test, vitest, jest-junit, Maven surefire,
cargo-nextest). Pure: text in, SuiteResult out.

Beyond one <testcase> per test:
- a <testsuite> that carries counts (tests, failures, errors, skipped) but lists no test is
  counted from those attributes, as unnamed tests of that suite;
- reruns: surefire and nextest put `flakyFailure`/`flakyError` in a test that passed on a rerun
  and `rerunFailure`/`rerunError` in one that kept failing; pytest-rerunfailures (16.6.1) and
  jest-junit's retries write one <testcase> per attempt, one after the other; some plugins
  record the attempts as a property (`rerun`, `retries`, `execution_count`, ...). A test whose
  last attempt passed after a failed one is flaky, not failed."""

from __future__ import annotations

from xml.etree import ElementTree
from xml.parsers import expat

from shared.errors import InvalidInput
from shared.test_reports import Attempts, Outcome, SuiteResult

_GENERIC_CLASSNAMES = {"", "test"}  # node --test puts "test" on every case
_FLAKY_TAGS = {"flakyFailure", "flakyError"}
_RERUN_TAGS = {"rerun", "rerunFailure", "rerunError", *_FLAKY_TAGS}
_RERUN_PROPERTIES = {"rerun", "reruns", "retry", "retries", "retry_count", "rerun_count"}
_NOT_RUN = {"notrun", "disabled", "skipped", "suppressed"}
_RUN_PROPERTIES = {"execution_count", "attempts", "invocations", "runs"}  # counts the first run


def parse_junit(xml_text: str) -> SuiteResult:
    """Per-test outcomes from a JUnit XML report. A test's id is `<classname>::<name>`, or
    `<suite> > <suite>::<name>` when the classname says nothing; ids that repeat get ` (2)`,
    ` (3)`... unless the records follow each other (then they are attempts of one test).
    Raises InvalidInput for text that is not a JUnit report, and for any document with a DTD
    (entity expansion attacks)."""
    _refuse_dtd(xml_text)
    root = ElementTree.fromstring(xml_text)
    for element in root.iter():  # a default namespace ({uri}testcase) changes nothing
        element.tag = element.tag.rsplit("}", 1)[-1]
    if root.tag not in ("testsuites", "testsuite"):
        raise InvalidInput(f"test report is not JUnit XML: its root element is <{root.tag}>")
    attempts = Attempts()
    pending = [(root, [_norm(root.get("name"))] if root.tag == "testsuite" else [])]
    while pending:
        element, suites = pending.pop()
        children = [c for c in element if c.tag in ("testsuite", "testcase")]
        for child in reversed(children):
            if child.tag == "testsuite":
                pending.append((child, [*suites, _norm(child.get("name"))]))
        if not children:
            _count_only(element, suites, attempts)
        previous: tuple[str, ...] | None = None
        test_id = ""
        for child in children:
            if child.tag != "testcase":
                previous = None
                continue
            key = tuple(child.get(a, "") for a in ("classname", "name", "file", "line"))
            if key != previous:  # not another attempt of the test just read: a test of its own
                test_id = _unique(_case_id(child, suites), attempts)
            previous = key
            outcome = _case_outcome(child)
            if outcome == Outcome.PASSED and _reran(child):
                attempts.failed_once.add(test_id)
            attempts.add(test_id, outcome)
    return attempts.result()


def _unique(test_id: str, attempts: Attempts) -> str:
    unique, n = test_id, 1
    while unique in attempts.final:
        n += 1
        unique = f"{test_id} ({n})"
    return unique


def _count_only(element: ElementTree.Element, suites: list[str], attempts: Attempts) -> None:
    """A suite (or a whole report) that lists no test but says how many there were."""
    numbers = {a: _int(element.get(a)) for a in ("tests", "failures", "errors", "skipped")}
    numbers["skipped"] = numbers["skipped"] or _int(element.get("skip"))
    if not numbers["tests"]:
        return
    where = " > ".join(filter(None, suites)) or "report"
    kinds = [
        *[Outcome.FAILED] * numbers["failures"],
        *[Outcome.ERROR] * numbers["errors"],
        *[Outcome.SKIPPED] * numbers["skipped"],
    ]
    kinds += [Outcome.PASSED] * max(numbers["tests"] - len(kinds), 0)
    for k, outcome in enumerate(kinds, 1):
        attempts.add(f"{where}::(unnamed test {k} of {len(kinds)})", outcome)


def _int(text: str | None) -> int:
    try:
        return max(int(float(text or 0)), 0)
    except ValueError:
        return 0


def _refuse_dtd(xml_text: str) -> None:
    def refuse(*_: object) -> None:
        raise InvalidInput("test report declares a DTD, which JUnit reports never need; refused")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(xml_text, True)
    except expat.ExpatError as exc:
        raise InvalidInput(f"test report is not valid XML: {exc}") from exc


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def _case_id(case: ElementTree.Element, suites: list[str]) -> str:
    name = _norm(case.get("name")) or "(unnamed)"
    classname = _norm(case.get("classname"))
    prefix = classname if classname not in _GENERIC_CLASSNAMES else " > ".join(filter(None, suites))
    return f"{prefix}::{name}" if prefix else name


def _case_outcome(case: ElementTree.Element) -> Outcome:
    tags = {child.tag for child in case}
    if "failure" in tags:
        return Outcome.FAILED
    if "error" in tags:
        return Outcome.ERROR
    # googletest and CTest mark tests that did not run with attributes, not elements
    not_run = case.get("status") in _NOT_RUN or case.get("result") in _NOT_RUN
    if "skipped" in tags or not_run:
        return Outcome.SKIPPED
    return Outcome.PASSED


def _reran(case: ElementTree.Element) -> bool:
    """Whether the case says it ran more than once (it passed in the end, so it failed before)."""
    if any(child.tag in _RERUN_TAGS for child in case):
        return True
    for prop in case.iter("property"):
        name = (prop.get("name") or "").strip().lower()
        value = _int(prop.get("value") or prop.text)
        if (name in _RERUN_PROPERTIES and value > 0) or (name in _RUN_PROPERTIES and value > 1):
            return True
    return False
