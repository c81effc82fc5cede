"""Limits and checks on what users send: sizes, characters, branch names, repository URLs.
Pure: no IO. Each check raises InvalidInput (or ValueError inside pydantic validators) with a
message that says what was wrong and what to do."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from shared.errors import InvalidInput

MAX_PROMPT_CHARS = 100_000
MAX_REPO_CHARS = 2_048
MAX_BRANCH_CHARS = 255
MAX_MODEL_CHARS = 500
MAX_TITLE_CHARS = 500
MAX_DETAILS_CHARS = 20_000
MAX_STEPS = 50
MAX_FILES_PER_STEP = 50
MAX_PATH_CHARS = 500
MAX_PLAN_CHARS = 200_000  # the whole plan: summary, titles, details and paths together

# C0 controls and DEL, except tab, line feed and carriage return (fine in free text)
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# the same rules as JSON Schema patterns, for the API description
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# what str.strip() removes, and control characters: a value needs one other character
_BLANK = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_TEXT = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*"
_LINE = r"[^\x00-\x1f\x7f]*"
FILLED_TEXT_PATTERN = rf"^{_TEXT}[^{_BLANK}]{_TEXT}$"
FILLED_LINE_PATTERN = rf"^{_LINE}[^{_BLANK}]{_LINE}$"
MODEL_PATTERN = rf"^[^{_BLANK}]*$"
# what `git check-ref-format --branch` refuses anywhere in a name
# `user:secret@host:path`: git would not take it as a password, but who typed it meant one
_SCP_PASSWORD = re.compile(r"^[^@/\s:]+:[^@/\s]*@[^/\s]+:")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def control_problem(value: str, *, multiline: bool = True) -> str:
    """'' when `value` has no control character (tab and newlines allowed when `multiline`),
    else a description of the first one."""
    match = (_TEXT_CONTROL if multiline else _ANY_CONTROL).search(value)
    if match is None:
        return ""
    return f"contains the control character {match.group()!r} at position {match.start()}"


def text(value: str) -> str:
    """Pydantic validator for free text: refuses NUL and other control characters."""
    problem = control_problem(value)
    if problem:
        raise ValueError(f"{problem}; remove it (only tabs and newlines are allowed)")
    return value


def path(value: str) -> str:
    """Pydantic validator for a file path in a plan."""
    problem = control_problem(value, multiline=False)
    if problem:
        raise ValueError(f"{problem}; file paths cannot contain control characters")
    return value


def branch_problem(name: str) -> str:
    """'' when `name` is a valid git branch name (`git check-ref-format --branch` rules, and
    at most MAX_BRANCH_CHARS), else what is wrong with it."""
    forbidden = _REF_FORBIDDEN.search(name)
    components = name.split("/")
    problems = [
        (len(name) > MAX_BRANCH_CHARS, f"is longer than {MAX_BRANCH_CHARS} characters"),
        (forbidden is not None, f"contains {forbidden.group() if forbidden else ''!r}"),
        (".." in name, "contains '..'"),
        ("@{" in name, "contains '@{'"),
        (name == "@", "is '@'"),
        (name.startswith("-"), "starts with '-'"),
        (name.endswith("."), "ends with '.'"),
        (any(not c for c in components), "has an empty path component ('//' or a '/' at an end)"),
        (any(c.startswith(".") for c in components), "has a component starting with '.'"),
        (any(c.endswith(".lock") for c in components), "has a component ending with '.lock'"),
    ]
    return next((message for bad, message in problems if bad), "")


def check_branch(name: str) -> str:
    problem = branch_problem(name)
    if problem:
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise InvalidInput(
            f"branch {shown!r} {problem}: name an existing branch of the repository "
            "(git check-ref-format rules), or leave it empty for the default branch"
        )
    return name


def public_repo(repo: str) -> str:
    """`repo` as it may be stored and shown: a URL loses its user name, password, query string
    and fragment (where tokens travel: `https://user:pass@host/x`, `?access_token=…`). Local
    paths and scp-like `user@host:path` addresses (whose user is not a secret) are unchanged.
    Private repositories are reached with the stored forge credential, never one in the URL."""
    if "://" not in repo:
        if _SCP_PASSWORD.match(repo):
            raise InvalidInput(
                "the repository address carries a password (user:password@host:path): remove "
                "it; Errand reaches private repositories with the stored credential, never one "
                "in the address"
            )
        return repo
    try:
        parts = urlsplit(repo)
    except ValueError as exc:
        raise InvalidInput(
            f"repository URL is malformed ({exc}); pass a URL like https://host/owner/repo.git "
            "or a local path"
        ) from None
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_repo(repo: str) -> str:
    """The repository as given, checked for size and characters, credentials removed."""
    if len(repo) > MAX_REPO_CHARS:
        raise InvalidInput(
            f"repo is {len(repo):,} characters, more than the {MAX_REPO_CHARS:,} allowed: pass "
            "the path of a local git repository or a git URL"
        )
    problem = control_problem(repo, multiline=False)
    if problem:
        raise InvalidInput(f"repo {problem}: pass a plain path or URL")
    return public_repo(repo)


def check_model_name(model: str) -> str:
    if len(model) > MAX_MODEL_CHARS or re.search(r"\s", model) or _ANY_CONTROL.search(model):
        shown = model if len(model) <= 80 else model[:80] + "…"
        raise InvalidInput(
            f"model {shown!r} is not a model name: use a litellm model string such as "
            f"openai/gpt-4o-mini (no spaces, at most {MAX_MODEL_CHARS} characters)"
        )
    return model
