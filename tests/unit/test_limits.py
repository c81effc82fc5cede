"""Limits on user input: git branch names, repository URLs, control characters."""

from __future__ import annotations

import random
import re
import subprocess

import pytest

from shared import limits
from shared.errors import InvalidInput
from shared.services import CreateTask, validate_create

BRANCHES = [
    "main",
    "feature/x-1",
    "release/v1.2",
    "a..b",
    "-x",
    "x.lock",
    "a/.hidden",
    "a//b",
    "/a",
    "a/",
    "a.",
    "a@{b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "a\x7fb",
    "ünïcode",
    "x@y",
]


@pytest.mark.parametrize("name", BRANCHES)
def test_branch_rules_agree_with_git(name: str) -> None:
    git = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True)
    assert (limits.branch_problem(name) == "") == (git.returncode == 0), name


def test_at_alone_is_refused() -> None:
    # git accepts it with --branch as shorthand for the current branch; there is none here
    assert limits.branch_problem("@") == "is '@'"


def test_long_branch_names_are_refused_with_a_reason() -> None:
    with pytest.raises(InvalidInput, match="longer than 255"):
        limits.check_branch("b" * 256)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("https://user:pass@host/o/r.git", "https://host/o/r.git"),
        ("https://tok@host/o/r", "https://host/o/r"),
        ("https://host/o/r?access_token=abc#x", "https://host/o/r"),
        ("ssh://git@host:22/o/r", "ssh://host:22/o/r"),
        ("git@host:o/r.git", "git@host:o/r.git"),
        ("/srv/repos/r", "/srv/repos/r"),
        ("file:///srv/r", "file:///srv/r"),
    ],
)
def test_credentials_leave_repository_urls(given: str, shown: str) -> None:
    assert limits.check_repo(given) == shown


def test_passwords_in_scp_like_addresses_are_refused() -> None:
    with pytest.raises(InvalidInput, match="carries a password"):
        limits.check_repo("alice:s3cret@host:o/r.git")
    assert limits.check_repo("git@host:o/r.git") == "git@host:o/r.git"


def test_control_characters() -> None:
    assert limits.control_problem("tab\tand\nnewline\r\n") == ""
    assert "'\\x00'" in limits.control_problem("nul\x00")
    assert limits.control_problem("a\tb", multiline=False) != ""
    with pytest.raises(ValueError, match="control character"):
        limits.text("esc\x1b[0m")


def test_the_documented_patterns_agree_with_the_checks() -> None:
    """The API description states the create rules as JSON Schema patterns (for clients and
    schemathesis); they must accept exactly what validate_create accepts."""
    rng = random.Random(7)
    alphabet = "ab /\t\n\r\x00\x1b\x7f\x85\xa0\u2003\ufeff\x1cé:@"
    fields = {
        "prompt": limits.FILLED_TEXT_PATTERN,
        "repo": limits.FILLED_LINE_PATTERN,
        "model": limits.MODEL_PATTERN,
    }
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        for field, pattern in fields.items():
            req = CreateTask(**{"repo": "/r", "prompt": "p", "model": "m", field: value})
            try:
                validate_create(req, "default/model")
                accepted = True
            except InvalidInput:
                accepted = False
            # JSON Schema's `$` is the very end (Python's also matches before a final newline)
            documented = re.search(pattern.replace("$", r"\Z"), value) is not None
            assert accepted == documented, (field, value)
