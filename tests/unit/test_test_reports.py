"""Reading test reports beyond plain JUnit: suites with counts only, reruns and flaky markers,
`go test -json` and cargo test / nextest. The fixtures in tests/fixtures/testreports are shaped
like each tool's documented output."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import verdict
from shared.errors import InvalidInput
from shared.junit import parse_junit
from shared.suite_results import suite_result
from shared.test_reports import Outcome, SuiteResult, parse_go_json, parse_libtest
from shared.testsuite import TestPlan, detect

REPORTS = Path(__file__).parents[1] / "fixtures" / "testreports"
P, F, E, S = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED


def read(name: str) -> str:
    return (REPORTS / name).read_text()


def counted(result: SuiteResult) -> tuple[int, int, int, int]:
    return result.passed, result.failed, result.errors, result.skipped


# ---------------------------------------------------------------------------- JUnit


def test_a_suite_with_counts_and_no_testcase_is_counted_from_its_attributes() -> None:
    result = parse_junit(read("counts_only.xml"))
    # api: 12 tests, 2 failures, 1 error, 3 skipped -> 6 passed; smoke lists its 2 tests.
    assert counted(result) == (8, 2, 1, 3)
    assert result.outcomes["smoke::starts"] == P
    unnamed = [t for t in result.outcomes if t.startswith("api::(unnamed test")]
    assert len(unnamed) == 12
    assert result.outcomes["api::(unnamed test 1 of 12)"] == F
    assert result.outcomes["api::(unnamed test 3 of 12)"] == E


def test_counts_only_ids_stay_put_so_a_new_failure_shows() -> None:
    def report(failures: int) -> SuiteResult:
        return parse_junit(f'<testsuite name="api" tests="5" failures="{failures}"/>')

    v = verdict.classify(report(1), report(2))
    assert v.pre_existing == ["api::(unnamed test 1 of 5)"]
    assert v.newly_failing == ["api::(unnamed test 2 of 5)"]
    assert counted(parse_junit('<testsuites tests="3" failures="x"/>')) == (3, 0, 0, 0)
    assert parse_junit('<testsuite name="empty" tests="0"/>').outcomes == {}


def test_surefire_flaky_and_rerun_elements() -> None:
    result = parse_junit(read("surefire_rerun.xml"))
    name = "com.example.CalculatorTest::"
    assert result.outcomes == {
        name + "addsNumbers": P,
        name + "dividesSometimes": P,
        name + "connectsSometimes": P,
        name + "subtractsNegative": F,
        name + "readsConfig": E,
        name + "slowPath": S,
    }
    assert result.flaky == [name + "connectsSometimes", name + "dividesSometimes"]


def test_nextest_junit() -> None:
    result = parse_junit(read("nextest_junit.xml"))
    assert result.outcomes == {
        "adder::tests::exploration": P,
        "adder::tests::another": F,
        "adder::tests::flaky_mod_2": P,
        "adder::integration_test::it_adds_two": P,
    }
    assert result.flaky == ["adder::tests::flaky_mod_2"]


def test_pytest_rerunfailures_attempts_markers_and_properties() -> None:
    result = parse_junit(read("pytest_rerunfailures_attempts.xml"))
    assert result.outcomes == {
        "test_rerun::test_always_fails": F,  # three records, one test: its last attempt
        "test_rerun::test_passes": P,
        "test_rerun::test_flaky_flagged": P,
        "test_rerun::test_counted": P,
    }
    assert result.flaky == ["test_rerun::test_counted", "test_rerun::test_flaky_flagged"]
    assert counted(result) == (3, 1, 0, 0)


def test_jest_junit_retries() -> None:
    result = parse_junit(read("jest_junit_retries.xml"))
    assert result.outcomes == {
        "checkout pays with a card::checkout pays with a card": P,
        "checkout refunds::checkout refunds": P,
        "checkout declines an expired card::checkout declines an expired card": F,
    }
    assert result.flaky == ["checkout pays with a card::checkout pays with a card"]


def test_records_apart_are_two_tests_and_a_rerun_that_still_fails_is_not_flaky() -> None:
    xml = (
        '<testsuite name="s"><testcase classname="c" name="t"><failure/></testcase>'
        '<testcase classname="c" name="u"/><testcase classname="c" name="t"/>'
        '<testcase classname="c" name="v"><failure/><rerun/></testcase></testsuite>'
    )
    result = parse_junit(xml)
    assert result.outcomes == {"c::t": F, "c::u": P, "c::t (2)": P, "c::v": F}
    assert result.flaky == []


def test_namespaced_reports_and_tests_marked_not_run_by_attribute() -> None:
    xml = (
        '<testsuites xmlns="urn:example:junit"><testsuite name="Math">'
        '<testcase name="Adds" classname="Math" status="run" result="completed"/>'
        '<testcase name="DISABLED_Old" classname="Math" status="notrun"/>'
        '<testcase name="Skips" classname="Math" status="run" result="skipped"/>'
        "</testsuite></testsuites>"
    )
    assert parse_junit(xml).outcomes == {"Math::Adds": P, "Math::DISABLED_Old": S, "Math::Skips": S}


def test_flaky_in_the_report_is_neither_fixed_nor_broken() -> None:
    baseline = parse_junit(read("surefire_rerun.xml"))
    after = parse_junit(read("surefire_rerun.xml").replace("dividesSometimes", "divides2"))
    v = verdict.classify(baseline, after, [*baseline.flaky, *after.flaky])
    assert "com.example.CalculatorTest::divides2" in v.flaky
    assert v.newly_failing == [] and v.newly_passing == []
    assert v.pre_existing == [
        "com.example.CalculatorTest::readsConfig",
        "com.example.CalculatorTest::subtractsNegative",
    ]


# ---------------------------------------------------------------------------- go test -json


def test_go_test_json() -> None:
    result = parse_go_json(read("go_test.json"))
    calc = "example.com/calc::"
    assert result.outcomes == {
        calc + "TestAdd": P,
        calc + "TestDiv/by_one": P,
        calc + "TestDiv/by_zero": F,
        calc + "TestDiv": F,
        calc + "TestNetwork": S,
        calc + "TestClock": P,  # failed, then passed with -count=2
        "example.com/calc/parse::TestParse": P,
        "example.com/calc/broken": E,  # did not build: no test of it ran
    }
    assert result.flaky == [calc + "TestClock"]
    assert "example.com/calc/broken did not build" in result.note


def test_go_text_that_is_not_json_is_refused_and_stray_lines_are_skipped() -> None:
    with pytest.raises(InvalidInput, match="not `go test -json` output"):
        parse_go_json("ok  \texample.com/calc\t0.003s\n")
    mixed = 'go: downloading x\n{"Action":"pass","Package":"p","Test":"TestA"}\n{bad json\n'
    assert parse_go_json(mixed).outcomes == {"p::TestA": P}


# ---------------------------------------------------------------------------- cargo test


def test_cargo_test_output() -> None:
    result = parse_libtest(read("cargo_test.txt"))
    assert result.outcomes == {
        "src/lib.rs::tests::exploration": P,
        "src/lib.rs::tests::expensive_test": S,
        "src/lib.rs::tests::another": F,
        "src/lib.rs::tests::greater_than_100": P,
        "src/lib.rs::tests::it_works": P,
        "tests/integration_test.rs::it_adds_two": P,
        "tests/integration_test.rs::tests::it_works": P,
        "doc-tests adder::src/lib.rs - add (line 5)": P,
    }


def test_cargo_output_of_older_cargo_and_of_a_build_that_failed() -> None:
    old = (
        "     Running target/debug/deps/adder-ce99bcc2479f4607\n\nrunning 1 test\n"
        "test tests::it_works ... ok\n\ntest result: ok. 1 passed; 0 failed\n"
    )
    assert parse_libtest(old).outcomes == {"adder::tests::it_works": P}
    with pytest.raises(InvalidInput, match="not cargo test output"):
        parse_libtest("error[E0425]: cannot find value `x` in this scope\nerror: could not compile")


# ---------------------------------------------------------------------------- plans


def test_go_and_cargo_repositories_get_plans_whose_reports_are_read() -> None:
    go = detect({"go.mod": "module example.com/calc\n"}, ["go.mod", "calc.go", "calc_test.go"])
    assert go is not None and (go.runner, go.report_format) == ("go", "go-json")
    assert "go test -json ./... > /workspace/results/junit.xml" in go.test
    assert detect({"go.mod": "module m\n"}, ["go.mod", "main.go"]) is None  # no test files
    cargo = detect({"Cargo.toml": "[package]\nname = 'adder'\n"}, ["Cargo.toml", "src/lib.rs"])
    assert cargo is not None and (cargo.runner, cargo.report_format) == ("cargo", "libtest")
    result = suite_result(cargo, 101, False, read("cargo_test.txt"))
    assert result.failed == 1 and result.outcomes["src/lib.rs::tests::another"] == F
    with pytest.raises(InvalidInput):  # the stage then judges by the exit code
        suite_result(cargo, 101, False, "error: could not compile `adder`\n")
    assert suite_result(cargo, 101, False, None).errors == 1  # never green


def test_an_old_plan_without_a_report_format_reads_junit() -> None:
    stored = (
        '{"install": [], "test": "pytest", "junit_path": "/r.xml", "runner": "pytest", '
        '"display": "pytest"}'
    )
    plan = TestPlan.model_validate_json(stored)
    xml = '<testsuite name="s"><testcase classname="c" name="t"/></testsuite>'
    assert suite_result(plan, 0, False, xml).outcomes == {"c::t": P}
