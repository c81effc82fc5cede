"""Test detection, JUnit parsing and baseline comparison, on strings and on real reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared import domain
from shared.errors import InvalidInput
from shared.junit import parse_junit
from shared.suite_results import counts, result_from_exit, suite_result
from shared.test_reports import Outcome, SuiteResult
from shared.testsuite import (
    JUNIT_PATH,
    VENV_DIR,
    TestPlan,
    agents_commands,
    detect,
    relevant_paths,
)
from shared.verdict import classify
from tests.support.gitrepo import git, make_python_repo_with_failing_test


def _detect_in(repo: Path, junit_path: str = JUNIT_PATH) -> TestPlan | None:
    """Detect as the prepare stage does: list the repository, read the relevant files."""
    paths = git(repo, "ls-files").split()
    files = {p: (repo / p).read_text() for p in relevant_paths(paths)}
    return detect(files, paths, junit_path)


# ---------------------------------------------------------------------------- detect: Python


def test_fixture_repo_uses_the_pytest_command_named_in_agents_md(tmp_path: Path) -> None:
    plan = _detect_in(make_python_repo_with_failing_test(tmp_path / "r"))
    assert plan is not None
    assert plan.runner == "pytest"
    assert plan.display == "pytest -q"
    assert plan.junit_path == JUNIT_PATH
    assert plan.test == (
        "mkdir -p /workspace/results && rm -f /workspace/results/junit.xml && "
        f"PYTHONDONTWRITEBYTECODE=1 PATH={VENV_DIR}/bin:$PATH {VENV_DIR}/bin/python -m pytest -q "
        "-p no:cacheprovider --junitxml=/workspace/results/junit.xml"
    )
    uv = (
        "command -v uv >/dev/null 2>&1 && export UV_CACHE_DIR=/workspace/.cache/uv "
        "UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1"
    )
    assert plan.install == [
        f"test -x {VENV_DIR}/bin/python || {{ if {uv}; then uv venv -q --seed --python python3 "
        f"{VENV_DIR}; else python3 -m venv {VENV_DIR}; fi; }}",
        f"if {uv}; then uv pip install -q --compile-bytecode --python {VENV_DIR}/bin/python "
        "-r requirements.txt "
        f"pytest; else {VENV_DIR}/bin/python -m pip install --disable-pip-version-check "
        "--no-input -r requirements.txt pytest; fi",
    ]


def test_python_tests_are_found_without_agents_md() -> None:
    plan = detect({}, ["pkg/core.py", "pkg/core_test.py"])
    assert plan is not None and plan.runner == "pytest" and plan.display == "pytest"
    assert "install --disable-pip-version-check --no-input pytest" in plan.install[-1]


def test_pyproject_projects_install_editable_with_their_test_extra() -> None:
    pyproject = (
        '[project]\nname = "p"\nversion = "1"\n'
        '[project.optional-dependencies]\ndev = ["ruff"]\ntest = ["pytest", "hypothesis"]\n'
    )
    plan = detect(
        {"pyproject.toml": pyproject}, ["pyproject.toml", "src/p/__init__.py", "tests/test_p.py"]
    )
    assert plan is not None
    assert "-e '.[test]' pytest" in plan.install[-1]


def test_pytest_configuration_alone_counts_and_config_only_pyproject_does_not() -> None:
    configured = detect({"pyproject.toml": "[tool.pytest.ini_options]\n"}, ["pyproject.toml"])
    assert configured is not None and configured.runner == "pytest"
    assert "--no-input pytest" in configured.install[-1]  # not an installable project
    assert (
        detect({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, ["pyproject.toml", "a.py"])
        is None
    )


def test_vendored_test_files_do_not_count() -> None:
    assert detect({}, ["node_modules/x/test_x.py", ".venv/lib/test_site.py", "app.py"]) is None


def test_unparseable_manifests_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"pyproject\.toml is not valid TOML"):
        detect({"pyproject.toml": "[project"}, ["pyproject.toml", "test_a.py"])
    with pytest.raises(InvalidInput, match=r"package\.json is not valid JSON"):
        detect({"package.json": "{"}, ["package.json"])


# ---------------------------------------------------------------------------- detect: Node


def _node(script: str, dev: dict[str, str] | None = None, lock: bool = False) -> TestPlan | None:
    package = {"name": "x", "scripts": {"test": script}, "devDependencies": dev or {}}
    paths = ["package.json", "index.js"] + (["package-lock.json"] if lock else [])
    return detect({"package.json": json.dumps(package)}, paths, junit_path="/out/j.xml")


def test_node_test_runner_writes_junit_through_node_options() -> None:
    plan = _node("node --test test/", lock=True)
    assert plan is not None and plan.runner == "node-test" and plan.junit_path == "/out/j.xml"
    assert plan.install == ["npm ci --no-audit --no-fund"]
    assert "--test-reporter=junit --test-reporter-destination=/out/j.xml" in plan.test
    assert plan.test.endswith("npm test")


def test_vitest_and_jest_reporters() -> None:
    vitest = _node("vitest")
    assert vitest is not None and vitest.runner == "vitest"
    assert vitest.install == ["npm install --no-audit --no-fund"]
    assert vitest.test.endswith(
        "npm test -- --run --reporter=default --reporter=junit --outputFile.junit=/out/j.xml"
    )
    jest = _node("jest --coverage", dev={"jest": "29", "jest-junit": "16"})
    assert jest is not None and jest.runner == "jest"
    assert "JEST_JUNIT_OUTPUT_FILE=/out/j.xml npm test -- --ci" in jest.test


def test_node_runners_without_a_reachable_reporter_are_judged_by_exit_code() -> None:
    for script, dev in (("jest", {"jest": "29"}), ("vitest run && eslint .", {}), ("mocha", {})):
        plan = _node(script, dev)
        assert plan is not None
        assert (plan.runner, plan.junit_path, plan.test) == ("npm", None, "CI=true npm test")


def test_npm_placeholder_test_script_is_no_test() -> None:
    assert _node('echo "Error: no test specified" && exit 1') is None
    assert detect({"package.json": '{"name": "x"}'}, ["package.json"]) is None


# ---------------------------------------------------------------------------- AGENTS.md


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        ("Test command: `make test`", "make test"),
        ("Test command: ``pytest -k `slow` `` (takes a minute)", "pytest -k `slow`"),
        ("- **Test command:** `npm run check -- --ci`", "npm run check -- --ci"),
        ("* __Test command__: tox -e py311", "tox -e py311"),
        ("test COMMAND:   ./run-tests.sh  ", "./run-tests.sh"),
        (
            "# Repo\n## Testing\nRun this:\n\n```bash\n# all\n$ make deps\n$ make test\n```\n",
            "make deps && make test",
        ),
        (
            "## Tests\n### Unit\n```python\n# not shell\nimport x\n```\n~~~sh\nnox -s tests\n~~~\n",
            "nox -s tests",
        ),
        ("## Tests\nNone yet.\n## Build\n```\nmake\n```\n", ""),
        ("```\n## Tests\n```\n```sh\nmake\n```\n", ""),
        ("# About\nNothing to see.\n", ""),
    ],
)
def test_agents_md_grammar(agents: str, expected: str) -> None:
    assert agents_commands(agents)[0] == expected


def test_named_commands_win_over_detection() -> None:
    agents = "Test command: `make test`\nInstall command: `make deps`\n"
    plan = detect({"AGENTS.md": agents}, ["AGENTS.md", "Makefile", "tests/test_a.py"])
    assert plan is not None
    assert (plan.runner, plan.junit_path, plan.display) == ("command", None, "make test")
    assert plan.install == ["make deps"]
    assert plan.test.endswith(
        f"export PATH={VENV_DIR}/bin:/workspace/repo/node_modules/.bin:$PATH && make test"
    )


def test_a_named_command_alone_is_enough() -> None:
    plan = detect({"AGENTS.md": "Test command: `./check.sh`"}, ["AGENTS.md", "check.sh"])
    assert plan is not None and plan.install == [] and plan.display == "./check.sh"


def test_named_pytest_in_a_pipeline_is_run_as_written() -> None:
    plan = detect({"AGENTS.md": "Test command: `pytest -q && ruff check .`"}, ["AGENTS.md"])
    assert plan is not None and plan.runner == "command" and plan.junit_path is None
    assert plan.test.endswith("&& pytest -q && ruff check .")


def test_named_pytest_keeps_its_arguments_and_gets_a_report() -> None:
    plan = detect({"AGENTS.md": "Test command: `python -m pytest tests/unit -x`"}, ["AGENTS.md"])
    assert plan is not None and plan.runner == "pytest"
    assert "-m pytest tests/unit -x -p no:cacheprovider --junitxml=" in plan.test
    assert "--no-input pytest" in plan.install[-1]


# ---------------------------------------------------------------------------- JUnit: real reports


def test_parse_a_real_pytest_report(tmp_path: Path) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "r")
    (repo / "tests" / "test_more.py").write_text(
        "import pytest\n\n\n@pytest.mark.skip(reason='later')\n"
        "def test_later() -> None:\n    pass\n\n\n"
        "@pytest.fixture\ndef broken() -> None:\n    raise RuntimeError('fixture')\n\n\n"
        "def test_uses_broken(broken: None) -> None:\n    pass\n"
    )
    report = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    result = parse_junit(report.read_text())
    assert result.outcomes == {
        "tests.test_calc::test_add": Outcome.FAILED,
        "tests.test_calc::test_sub": Outcome.PASSED,
        "tests.test_calc::test_mul": Outcome.PASSED,
        "tests.test_more::test_later": Outcome.SKIPPED,
        "tests.test_more::test_uses_broken": Outcome.ERROR,
    }
    assert counts(result) == domain.TestCounts(passed=2, failed=1, errors=1, skipped=1)


NODE_TESTS = """
const test = require('node:test');
const assert = require('node:assert');
test('adds', () => { assert.equal(1 + 1, 2); });
test('breaks', () => { assert.equal(1, 2); });
test('later', { todo: true }, () => {});
test.describe('math', () => {
  test.describe('inner', () => { test.it('deep', () => {}); });
  test.it('adds', () => {});
});
"""


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs node and npm")
def test_the_node_plan_command_writes_a_report_we_parse(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "a.test.js").write_text(NODE_TESTS)
    (tmp_path / "test" / "b.test.js").write_text("require('node:test')('adds', () => {});\n")
    package = {"name": "n", "version": "1.0.0", "scripts": {"test": "node --test test/"}}
    (tmp_path / "package.json").write_text(json.dumps(package))
    junit = tmp_path / "reports" / "junit.xml"
    plan = detect({"package.json": json.dumps(package)}, ["package.json"], junit_path=str(junit))
    assert plan is not None
    done = subprocess.run(["sh", "-c", plan.test], cwd=tmp_path, capture_output=True, check=False)
    assert done.returncode != 0
    result = suite_result(plan, done.returncode, False, junit.read_text())
    assert result.outcomes == {
        "adds": Outcome.PASSED,
        "breaks": Outcome.FAILED,
        "later": Outcome.SKIPPED,
        "math > inner::deep": Outcome.PASSED,
        "math::adds": Outcome.PASSED,
        "adds (2)": Outcome.PASSED,
    }


VITEST = """<?xml version="1.0" encoding="UTF-8" ?>
<testsuites name="vitest tests" tests="4" failures="1" errors="0" time="0.01">
    <testsuite name="src/sum.test.ts" timestamp="2024-01-01T00:00:00" hostname="h" tests="4"
               failures="1" errors="0" skipped="1" time="0.004">
        <testcase classname="src/sum.test.ts" name="sum &gt; adds" time="0.001"></testcase>
        <testcase classname="src/sum.test.ts" name="sum &gt;   subtracts
            " time="0.001">
            <failure message="expected 1 to be 2" type="AssertionError">AssertionError: 1 != 2
 at src/sum.test.ts:9:17</failure>
        </testcase>
        <testcase classname="src/sum.test.ts" name="sum &gt; later" time="0"><skipped/></testcase>
        <testcase classname="src/sum.test.ts" name="sum &gt; adds" time="0.001"></testcase>
    </testsuite>
</testsuites>
"""


def test_parse_a_vitest_report() -> None:
    result = parse_junit(VITEST)
    assert result.outcomes == {
        "src/sum.test.ts::sum > adds": Outcome.PASSED,
        "src/sum.test.ts::sum > subtracts": Outcome.FAILED,
        "src/sum.test.ts::sum > later": Outcome.SKIPPED,
        "src/sum.test.ts::sum > adds (2)": Outcome.PASSED,
    }


def test_a_single_testsuite_root_is_accepted() -> None:
    xml = (
        '<testsuite name="s"><testcase name="a"/><testcase name="b"><error/></testcase></testsuite>'
    )
    assert parse_junit(xml).outcomes == {"s::a": Outcome.PASSED, "s::b": Outcome.ERROR}


def test_malformed_and_hostile_reports_are_refused() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><testsuites><testcase name="&lol2;"/></testsuites>'
    )
    with pytest.raises(InvalidInput, match="declares a DTD"):
        parse_junit(laughs)
    with pytest.raises(InvalidInput, match="not valid XML"):
        parse_junit("<testsuites><testcase>")
    with pytest.raises(InvalidInput, match="not valid XML"):
        parse_junit("")
    with pytest.raises(InvalidInput, match="root element is <html>"):
        parse_junit("<html><body/></html>")


# ---------------------------------------------------------------------------- exit codes, compare


def test_exit_code_results() -> None:
    assert result_from_exit("make test", 0, False).outcomes == {"make test": Outcome.PASSED}
    failed = result_from_exit("make test", 2, False)
    assert (failed.failed, failed.note) == (1, "exited with code 2")
    timed_out = result_from_exit("make test", 0, True, 600.0)
    assert (timed_out.passed, timed_out.failed, timed_out.note) == (0, 1, "timed out after 600 s")
    assert timed_out.timed_out and not failed.timed_out


def test_suite_result_never_reads_a_broken_run_as_green() -> None:
    plan = TestPlan(install=[], test="t", junit_path="/j.xml", runner="pytest", display="pytest")
    green = '<testsuites><testsuite name="pytest"><testcase classname="m" name="a"/></testsuite>'
    green += "</testsuites>"
    crashed = suite_result(plan, 3, False, green)
    assert crashed.outcomes == {"m::a": Outcome.PASSED, "pytest": Outcome.ERROR}
    assert crashed.note == "exited with code 3 although no test failed"
    assert suite_result(plan, 0, False, green).outcomes == {"m::a": Outcome.PASSED}
    for code, report in ((1, None), (0, None), (0, ""), (0, " \n")):
        missing = suite_result(plan, code, False, report)
        assert missing.outcomes == {"pytest": Outcome.ERROR}, (code, report)
        assert (missing.passed, missing.errors) == (0, 1)
        assert missing.note == f"no JUnit report was written (exit code {code})"
    assert suite_result(plan, 0, True, green, 5).note == "timed out after 5 s"


def test_a_run_that_exits_0_before_writing_its_report_is_not_green(tmp_path: Path) -> None:
    """A conftest ending the process with os._exit(0): pytest exits 0, no test ran."""
    repo = make_python_repo_with_failing_test(tmp_path / "r")
    (repo / "conftest.py").write_text("import os\n\nos._exit(0)\n")
    plan = _detect_in(repo, str(tmp_path / "results" / "junit.xml"))
    assert plan is not None and plan.junit_path is not None
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(
        [*command, f"--junitxml={plan.junit_path}"], cwd=repo, capture_output=True, check=False
    )
    assert done.returncode == 0 and not Path(plan.junit_path).exists()
    result = suite_result(plan, done.returncode, False, None)
    assert result.outcomes == {plan.display: Outcome.ERROR} and result.passed == 0
    assert result.note == "no JUnit report was written (exit code 0)"


def test_a_verdict_over_results_counts_new_failures_and_fixes_only() -> None:
    baseline = SuiteResult.of(
        {
            "a": Outcome.FAILED,
            "b": Outcome.PASSED,
            "c": Outcome.ERROR,
            "d": Outcome.SKIPPED,
            "gone": Outcome.PASSED,
        }
    )
    after = SuiteResult.of(
        {
            "a": Outcome.PASSED,
            "b": Outcome.FAILED,
            "c": Outcome.FAILED,
            "d": Outcome.ERROR,
            "new": Outcome.FAILED,
        }
    )
    v = classify(baseline, after)
    assert (v.newly_failing, v.newly_passing) == (["b", "d", "new"], ["a"])
    assert v.pre_existing == ["c"] and v.disappeared == ["gone"]
    fixed = classify(result_from_exit("npm test", 1, False), result_from_exit("npm test", 0, False))
    assert (fixed.newly_failing, fixed.newly_passing) == ([], ["npm test"])
    same = classify(after, after)
    assert (same.newly_failing, same.newly_passing) == ([], [])
