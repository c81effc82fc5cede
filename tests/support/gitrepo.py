"""Build fixture git repositories in temporary directories, with a fixed identity and clock so
that commit ids are the same on every run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "Fixture Author",
    "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Fixture Author",
    "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
}


def _env() -> dict[str, str]:
    # The developer's own git configuration (signing, hooks, templates) must not leak into
    # fixtures, or the same test would build different repositories on different machines.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        **IDENTITY,
    }


def git(repo: Path, *args: str, input_bytes: bytes | None = None) -> str:
    """Run git in `repo` and return its stdout (text); raise with stderr on failure."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=_env(),
        input=input_bytes,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode(errors="replace")


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


def commit_all(repo: Path, message: str) -> str:
    """Stage everything, commit, and return the new commit id."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: Path, files: Mapping[str, str | bytes], branch: str = "main") -> Path:
    """A non-bare repository at `path` with one commit holding `files` on `branch`.
    An empty `files` makes a repository without commits."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "--template=", "-b", branch)
    if files:
        write_files(path, files)
        commit_all(path, "initial commit")
    return path


CALC = '''"""A tiny calculator."""


def add(a: int, b: int) -> int:
    return a - b


def sub(a: int, b: int) -> int:
    return a - b


def mul(a: int, b: int) -> int:
    return a * b
'''

TEST_CALC = """from calc import add, mul, sub


def test_add() -> None:
    assert add(2, 3) == 5


def test_sub() -> None:
    assert sub(5, 3) == 2


def test_mul() -> None:
    assert mul(4, 3) == 12
"""

AGENTS = """# Notes for agents

A tiny calculator. Keep functions pure and typed.

Test command: `pytest -q`
"""


def make_python_repo_with_failing_test(path: Path) -> Path:
    """The end-to-end fixture: `add` subtracts, so tests/test_calc.py::test_add fails while
    test_sub and test_mul pass. Fixing `add` to return a + b makes all three pass."""
    return make_repo(
        path,
        {
            "calc.py": CALC,
            "tests/test_calc.py": TEST_CALC,
            "pytest.ini": "[pytest]\npythonpath = .\n",
            "requirements.txt": "pytest\n",
            "AGENTS.md": AGENTS,
            "README.md": "# calc\n\nA tiny calculator used as a test fixture.\n",
        },
    )
