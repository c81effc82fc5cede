"""One Forge for every task: GitHub for `owner/name` and GitHub URLs, local git for the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shared.github.refs import github_repo
from shared.ports import ChangeRequest, Forge


class ForgeRouter:
    """Implements shared.ports.Forge by handing each call to the forge the repository's form
    names. The GitHub forge is built on first use: a machine without a GitHub App still runs
    local tasks."""

    def __init__(self, local: Forge, github: Callable[[], Forge], web_url: str) -> None:
        self._local = local
        self._github = github
        self._web_url = web_url

    def pick(self, repo: str) -> Forge:
        """A relative path that exists (`src/app`) stays local even though it reads like
        owner/name."""
        if github_repo(repo, self._web_url) and not Path(repo).exists():
            return self._github()
        return self._local

    def clone(self, repo: str, branch: str, dest: Path) -> str:
        return self.pick(repo).clone(repo, branch, dest)

    def publish(
        self,
        repo: str,
        base_branch: str,
        branch: str,
        patch: str,
        commit_message: str,
        title: str,
        body: str,
    ) -> ChangeRequest:
        return self.pick(repo).publish(
            repo, base_branch, branch, patch, commit_message, title, body
        )
