"""Pytest fixtures around the GitHub stand-in: a running stand-in with one installed
repository, and Errand's GitHub adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.github_app import AppAuth
from shared.adapters.github_forge import GitHubForge
from tests.support.github_standin import GitHubStandIn
from tests.support.gitrepo import make_python_repo_with_failing_test

REPO = "octo-org/calc"
INSTALLATION = 77


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path / "github") as gh:
        gh.add_repo(REPO, make_python_repo_with_failing_test(tmp_path / "calc-src"))
        gh.install(INSTALLATION, "octo-org", [REPO])
        gh.add_collaborator(REPO, "alice", "write")
        yield gh


def make_forge(gh: GitHubStandIn, tmp_path: Path) -> GitHubForge:
    auth = AppAuth(gh.app_id, gh.private_key_pem, gh.api_url, web_url=gh.web_url)
    return GitHubForge(auth, timeout_s=60, tmp_dir=tmp_path, seconds_between_writes=0)
