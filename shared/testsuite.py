"""How to install and run a repository's tests, and what their results mean. Pure: strings in,
models out; the caller lists and reads files, runs commands in the sandbox, reads the report.

Layout inside the sandbox: the repository is checked out at REPO_DIR (the working directory of
every command); the Python environment lives at VENV_DIR, outside the repository so it never
shows in the diff; JUnit reports go to JUNIT_PATH unless the caller picks another path.

AGENTS.md may name the commands; a named command wins over detection. The grammar:

- a line `Test command: <cmd>` or `Install command: <cmd>` (case-insensitive, may be a list
  item, the label may be bold, the command may be wrapped in backticks); or
- under a heading named `Test`, `Tests`, `Testing` or `Running (the) tests`, the first fenced
  code block whose language is empty, sh, bash, shell, zsh or console: its non-empty lines,
  `#` comments dropped and a leading `$ ` prompt removed, joined with ` && `.

A named test command gets a JUnit report when it runs pytest (`pytest ...` or
`python -m pytest ...`); any other command is judged by its exit code alone, the whole suite
counting as one test whose id is the command. Go modules with tests run `go test -json ./...` and
cargo packages `cargo test`; their output is the report (see test_reports), read by the reader
the plan's `report_format` names.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any, ClassVar

from shared.domain import Model
from shared.errors import InvalidInput

REPO_DIR = "/workspace/repo"
VENV_DIR = "/workspace/env/venv"
JUNIT_PATH = "/workspace/results/junit.xml"
NO_TESTS_MESSAGE = (
    "no test command found — add a tests/ directory with pytest tests, a package.json test "
    "script, or name the command in AGENTS.md ('Test command: ...')"
)
# Files whose contents detect() reads (at the repository root); the caller passes the ones that
# exist, plus the list of every path in the repository.
RELEVANT_FILES = (
    "AGENTS.md",
    "pyproject.toml",
    "setup.cfg",
    "pytest.ini",
    "tox.ini",
    "package.json",
    "go.mod",
    "Cargo.toml",
)
REQUIREMENTS = (
    *("requirements.txt", "requirements-dev.txt", "requirements_dev.txt", "dev-requirements.txt"),
    *("requirements-test.txt", "requirements_test.txt", "test-requirements.txt"),
)
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_IGNORED_DIRS = {"node_modules", ".venv", "venv", ".git", "site-packages", ".tox", "build", "dist"}
_PIP = f"{VENV_DIR}/bin/python -m pip install --disable-pip-version-check --no-input"
_UV_ENV = "UV_CACHE_DIR=/workspace/.cache/uv UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1"
_NPM_FLAGS = "--no-audit --no-fund"
_LABEL = re.compile(
    r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(test|install)\s+command\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?"
    r"\s*(.*?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_TEST_HEADINGS = {"test", "tests", "testing", "running tests", "running the tests"}
_SHELL_FENCES = {"", "sh", "bash", "shell", "zsh", "console"}
_CODE_SPAN = re.compile(r"^(`+)(.+?)\1")
# Arguments appended to a command only reach its runner when it is a single simple command.
_SHELL_OPERATORS = re.compile(r"&&|\|\||[;|<>`]|\$\(")
_PYTEST = re.compile(r"^(?:pytest|py\.test|python3?\s+-m\s+pytest)(?:\s+(.*))?$")


class TestPlan(Model):
    """Commands run in the sandbox with REPO_DIR as working directory. `junit_path` is where
    `test` writes its JUnit report (None: judge by exit code). `display` is the command as
    people know it (also the test id when there is no report)."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    install: list[str]
    test: str
    junit_path: str | None  # where the report is written, whatever its format
    runner: str  # pytest | node-test | vitest | jest | npm | go | cargo | command
    display: str
    report_format: str = "junit"  # junit | go-json | libtest


def relevant_paths(paths: Iterable[str]) -> list[str]:
    """The subset of a repository listing whose contents detect() wants to read."""
    return [p for p in paths if p in RELEVANT_FILES]


def detect(
    files: Mapping[str, str], paths: Iterable[str], junit_path: str = JUNIT_PATH
) -> TestPlan | None:
    """`files`: contents of the RELEVANT_FILES that exist (others are ignored), keyed by path;
    `paths`: every file path in the repository (relative, '/'-separated). None when the
    repository has no tests Errand can find (see NO_TESTS_MESSAGE and install_without_tests).
    Raises InvalidInput when pyproject.toml or package.json cannot be parsed."""
    listing = [p for p in paths if not _IGNORED_DIRS.intersection(PurePosixPath(p).parts[:-1])]
    named_test, named_install = agents_commands(files.get("AGENTS.md", ""))
    python = _python_plan(files, listing, junit_path)
    node = _node_plan(files, listing, junit_path)
    detected = python or node or _go_or_cargo_plan(files, listing, junit_path)
    if named_test:
        pytest_args = None if _SHELL_OPERATORS.search(named_test) else _PYTEST.match(named_test)
        if pytest_args:
            install = python.install if python else _python_install(files, listing)
            plan = _pytest_plan(install, junit_path, pytest_args.group(1) or "", named_test)
        else:
            path = f"export PATH={VENV_DIR}/bin:{REPO_DIR}/node_modules/.bin:$PATH && "
            plan = TestPlan(
                install=detected.install if detected else [],
                test=path + named_test,
                junit_path=None,
                runner="command",
                display=named_test,
            )
    elif detected:
        plan = detected
    else:
        return None
    return plan.model_copy(update={"install": [named_install]}) if named_install else plan


def install_without_tests(files: Mapping[str, str], paths: Iterable[str]) -> list[str]:
    """For a repository detect() found no tests in: the commands that still install its
    dependencies (so that a check the model proposes can import the code), or [] when it
    declares none. AGENTS.md's install command wins."""
    _, named_install = agents_commands(files.get("AGENTS.md", ""))
    if named_install:
        return [named_install]
    listing = [p for p in paths if not _IGNORED_DIRS.intersection(PurePosixPath(p).parts[:-1])]
    present = set(listing)
    python = present & {"setup.py", "pyproject.toml", *REQUIREMENTS}
    if python:
        return _python_install(files, listing)
    if "package.json" in files:
        locked = "package-lock.json" in present or "npm-shrinkwrap.json" in present
        return [f"npm ci {_NPM_FLAGS}" if locked else f"npm install {_NPM_FLAGS}"]
    return []


def agents_commands(agents_md: str) -> tuple[str, str]:
    """(test command, install command) named in AGENTS.md; '' for each one not named."""
    named: dict[str, str] = {}
    for match in _LABEL.finditer(agents_md):
        value = match.group(2).strip()
        quoted = _CODE_SPAN.match(value)
        value = quoted.group(2).strip() if quoted else value
        if value:
            named.setdefault(match.group(1).lower(), value)
    return named.get("test") or _fenced_test_block(agents_md), named.get("install", "")


def _fenced_test_block(markdown: str) -> str:
    section = 0  # level of the open test heading; 0 outside one
    fence, collect = "", False
    commands: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if fence:  # inside a code block: headings in it are not headings
            if stripped.startswith(fence):
                if commands:
                    return " && ".join(commands)
                fence = ""
            elif collect and stripped and not stripped.startswith("#"):
                commands.append(stripped.removeprefix("$ ").strip())
        elif stripped[:3] in ("```", "~~~"):
            fence = stripped[:3]
            collect = bool(section) and stripped[3:].strip().lower() in _SHELL_FENCES
        elif heading := _HEADING.match(line):
            level = len(heading.group(1))
            if section and level <= section:
                section = 0
            if heading.group(2).strip(":").lower() in _TEST_HEADINGS:
                section = level
    return " && ".join(commands)


def _python_plan(files: Mapping[str, str], paths: list[str], junit_path: str) -> TestPlan | None:
    names = [PurePosixPath(p).name for p in paths]
    has_tests = any(
        n.endswith(".py") and (n.startswith("test_") or n.endswith("_test.py")) for n in names
    )
    pyproject = _toml(files.get("pyproject.toml", ""))
    configured = (
        "pytest.ini" in files
        or "conftest.py" in paths
        or "pytest" in pyproject.get("tool", {})
        or "[tool:pytest]" in files.get("setup.cfg", "")
        or "[pytest]" in files.get("tox.ini", "")
    )
    if not (has_tests or configured):
        return None
    return _pytest_plan(_python_install(files, paths), junit_path, "", "pytest")


def _python_install(files: Mapping[str, str], paths: Iterable[str]) -> list[str]:
    present = set(paths)
    targets = [f"-r {shlex.quote(r)}" for r in REQUIREMENTS if r in present]
    pyproject = _toml(files.get("pyproject.toml", ""))
    if "setup.py" in present or "project" in pyproject or "build-system" in pyproject:
        extras = pyproject.get("project", {}).get("optional-dependencies", {})
        extra = next((e for e in _TEST_EXTRAS if e in extras), "")
        # Editable, so that tests import the code being changed, not a copy in site-packages.
        targets.append("-e " + (shlex.quote(f".[{extra}]") if extra else "."))
    targets.append("pytest")
    return _venv_install(" ".join(targets))


def _venv_install(targets: str) -> list[str]:
    """A venv, then `targets` (pip syntax) installed into it: through uv where the sandbox has
    it (many times faster), through pip otherwise. uv's cache sits in the workspace, on the
    venv's filesystem, so that it links files instead of copying them."""
    uv = f"command -v uv >/dev/null 2>&1 && export {_UV_ENV}"
    venv = (
        f"test -x {VENV_DIR}/bin/python || {{ if {uv}; then uv venv -q --seed --python python3 "
        f"{VENV_DIR}; else python3 -m venv {VENV_DIR}; fi; }}"
    )
    # --compile-bytecode: tests run with PYTHONDONTWRITEBYTECODE, so without the .pyc files
    # written here every run compiled the test runner afresh (~0.4 s of each pytest start);
    # pip writes them by default
    install = (
        f"if {uv}; then uv pip install -q --compile-bytecode --python {VENV_DIR}/bin/python "
        f"{targets}; "
        f"else {_PIP} {targets}; fi"
    )
    return [venv, install]


def _pytest_plan(install: list[str], junit_path: str, args: str, display: str) -> TestPlan:
    extra = f" {args}" if args else ""
    command = (
        f"PYTHONDONTWRITEBYTECODE=1 PATH={VENV_DIR}/bin:$PATH {VENV_DIR}/bin/python -m pytest"
        f"{extra} -p no:cacheprovider --junitxml={shlex.quote(junit_path)}"
    )
    return TestPlan(
        install=install,
        test=_fresh_report(junit_path) + command,
        junit_path=junit_path,
        runner="pytest",
        display=display,
    )


def _node_plan(files: Mapping[str, str], paths: list[str], junit_path: str) -> TestPlan | None:
    if "package.json" not in files:
        return None
    try:
        package = json.loads(files["package.json"])
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"package.json is not valid JSON ({exc}) — fix it and retry") from exc
    scripts = package.get("scripts") if isinstance(package, dict) else None
    script = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(script, str) or not script.strip() or "no test specified" in script:
        return None
    locked = "package-lock.json" in paths or "npm-shrinkwrap.json" in paths
    install = [f"npm ci {_NPM_FLAGS}" if locked else f"npm install {_NPM_FLAGS}"]
    deps = [
        name
        for key in ("dependencies", "devDependencies")
        if isinstance(package.get(key), dict)
        for name in package[key]
    ]
    single = not _SHELL_OPERATORS.search(script)
    quoted = shlex.quote(junit_path)
    reporters = {
        "node-test": (
            re.search(r"\bnode\b.*\s--test\b", script),
            "NODE_OPTIONS='--test-reporter=spec --test-reporter-destination=stdout "
            f"--test-reporter=junit --test-reporter-destination={junit_path}' npm test",
        ),
        "vitest": (
            single and re.search(r"\bvitest\b", script),
            f"npm test -- --run --reporter=default --reporter=junit --outputFile.junit={quoted}",
        ),
        "jest": (
            single and re.search(r"\bjest\b", script) and "jest-junit" in deps,
            f"JEST_JUNIT_OUTPUT_FILE={quoted} npm test -- --ci --reporters=default "
            "--reporters=jest-junit",
        ),
    }
    for runner, (applies, command) in reporters.items():
        if applies:
            return TestPlan(
                install=install,
                test=_fresh_report(junit_path) + "CI=true " + command,
                junit_path=junit_path,
                runner=runner,
                display="npm test",
            )
    return TestPlan(
        install=install, test="CI=true npm test", junit_path=None, runner="npm", display="npm test"
    )


def _go_or_cargo_plan(
    files: Mapping[str, str], paths: list[str], junit_path: str
) -> TestPlan | None:
    """go test -json and cargo test write their results to the report file; cargo's text is
    shown in the log as well, go's JSON events are not (its build errors are)."""
    report = shlex.quote(junit_path)
    if "go.mod" in files and any(p.endswith("_test.go") for p in paths):
        return TestPlan(
            install=["go mod download"],
            test=_fresh_report(junit_path) + f"go test -json ./... > {report}",
            junit_path=junit_path,
            runner="go",
            display="go test ./...",
            report_format="go-json",
        )
    if "Cargo.toml" in files:
        return TestPlan(
            install=["cargo fetch"],
            test=_fresh_report(junit_path)
            + f"cargo test --no-fail-fast > {report} 2>&1; status=$?; cat {report}; "
            + "exit $status",
            junit_path=junit_path,
            runner="cargo",
            display="cargo test",
            report_format="libtest",
        )
    return None


def _fresh_report(junit_path: str) -> str:
    # A report left by an earlier run must never be read as this run's.
    parent = str(PurePosixPath(junit_path).parent)
    return f"mkdir -p {shlex.quote(parent)} && rm -f {shlex.quote(junit_path)} && "


def _toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"pyproject.toml is not valid TOML ({exc}) — fix it and retry") from exc
