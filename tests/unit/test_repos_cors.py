"""Single-user mode's repository picker (ERRAND_LOCAL_REPOS plus earlier tasks' repositories,
branches read with git) and CORS for the configured origins only."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from pydantic import SecretStr

from functions.app import create_app
from shared.services import CreateTask
from shared.settings import Settings
from shared.wiring import Deps
from tests.support.gitrepo import git, make_repo

AUTH = {"Authorization": "Bearer internal"}


def client(tmp_path: Path, **settings: object) -> tuple[Deps, FlaskClient]:
    deps = Deps(
        Settings(
            home=tmp_path / "home",
            model="openai/x",
            internal_token=SecretStr("internal"),
            **settings,  # type: ignore[arg-type]
        )
    )
    return deps, create_app(deps).test_client()


def test_local_repositories_and_their_branches(tmp_path: Path) -> None:
    allowed = tmp_path / "code"
    app = make_repo(allowed / "app", {"a.py": "x = 1\n"})
    git(app, "branch", "feature/x")
    make_repo(allowed / "lib", {"b.py": "y = 2\n"}, branch="trunk")
    (allowed / "notes").mkdir()  # not a repository: not offered
    used = make_repo(tmp_path / "elsewhere", {"c.py": ""})
    deps, c = client(tmp_path, local_repos=(allowed,))
    deps.task_service().create(CreateTask(repo=str(used), prompt="p"))
    repos = c.get("/api/me/repos", headers=AUTH).json
    assert repos is not None
    assert [(r["full_name"], r["default_branch"]) for r in repos["repos"]] == [
        (str(app.resolve()), "main"),
        (str((allowed / "lib").resolve()), "trunk"),
        (str(used), "main"),
    ]
    branches = c.get(f"/api/repos/{app.resolve()}/branches", headers=AUTH).json
    assert branches == {"branches": ["feature/x", "main"]}
    missing = c.get(f"/api/repos/{tmp_path}/nothing/branches", headers=AUTH)
    assert missing.status_code == 404
    github = c.get("/api/repos/octo/app/branches", headers=AUTH)
    assert github.status_code == 404 and "GitHub sign-in" in github.get_data(as_text=True)


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    _, c = client(tmp_path, cors_origins=("https://app.example",))
    ok = c.options("/api/tasks", headers={"Origin": "https://app.example"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-CSRF-Token" in ok.headers["Access-Control-Allow-Headers"]
    other = c.options("/api/tasks", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    listed = c.get("/api/tasks", headers={**AUTH, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in listed.headers
    listed = c.get("/api/tasks", headers={**AUTH, "Origin": "https://app.example"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://app.example"
