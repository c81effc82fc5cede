"""The accounts commands in-process (no server runs for the home): the same API handlers,
as this machine's user; and the operator's commands on the store."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from shared.adapters.sqlite_accounts import SqliteAccounts
from shared.cli import main
from shared.paths import db, key_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for name in [k for k in os.environ if k.startswith("ERRAND_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ERRAND_HOME", str(home))
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    finally:
        sys.stdin = old
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tokens_usage_and_keys(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "token", "create", "--name", "laptop", "--expires", "30")
    assert code == 0 and out.startswith("errand_") and "shown once" in err
    token_id = err.split()[0]
    code, out, _ = run(capsys, "token", "list")
    assert token_id in out and "laptop" in out and out.count("\n") == 1
    assert run(capsys, "token", "revoke", token_id)[0] == 0
    assert run(capsys, "token", "list")[1] == ""
    code, out, _ = run(capsys, "usage")
    assert code == 0 and "0 tasks" in out and "$50.00" in out
    code, out, _ = run(capsys, "keys", "set", "openai", stdin="sk-cli-canary-123456\n")
    assert code == 0 and "…3456" in out
    before = db(home).read_bytes() + (db(home).parent / "errand.db-wal").read_bytes()
    assert b"sk-cli-canary" not in before
    old_kek = key_file(home).read_bytes()
    code, out, _ = run(capsys, "keys", "rotate")
    assert code == 0 and "1 stored credentials re-wrapped" in out
    assert key_file(home).read_bytes() != old_kek
    assert not list((key_file(home).parent / "retired").iterdir())
    code, out, _ = run(capsys, "keys", "list")
    assert "openai" in out and "…3456" in out
    code, _, err = run(capsys, "keys", "set", "nosuchprovider", stdin="k\n")
    assert code == 2 and "litellm knows no provider" in err


def test_operator_sets_role_and_limits(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "user", "admin", "nobody")
    assert code == 2 and "first sign-in" in err
    SqliteAccounts(db(home)).ensure_github_user(5, "octo", "", "")
    assert run(capsys, "user", "admin", "OCTO")[0] == 0
    code, out, _ = run(
        capsys, "user", "limits", "octo", "--tasks-per-day", "9", "--monthly-usd", "2.5"
    )
    assert code == 0 and '"tasks_per_day": 9' in out
    user = SqliteAccounts(db(home)).find_user("octo")
    assert user.admin and user.limits.tasks_per_day == 9 and user.limits.monthly_budget_usd == 2.5
    code, _, err = run(capsys, "user", "limits", "octo", "--tasks-per-day", "-1")
    assert code == 2 and "invalid limit" in err
