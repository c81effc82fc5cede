"""Forge and ForgeFeedback on GitHub, through the GitHub App (PyGithub; `api_url` set for GitHub
Enterprise).

Git runs exactly as for local repositories (shared/adapters/local_git.py: no hooks, no user
config, a pristine bare clone for publishing) with one addition: the installation token, as an
`http.<github>/.extraHeader` passed in git's environment (GIT_CONFIG_*). It is therefore never
in a URL, an argument, a `.git/config` or the workspace, and the workspace's remote is the plain
repository URL."""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from github import Auth, Github, GithubException
from github.Repository import Repository

from shared.adapters.github_app import FEEDBACK, METADATA, PUBLISH, READ
from shared.adapters.local_git import LocalGitForge
from shared.domain import GitHubOrigin
from shared.errors import ForgeError, InvalidInput
from shared.github.refs import github_repo
from shared.ports import ChangeRequest


def status_marker(task_id: str) -> str:
    """Hidden in the status comment, so a rerun finds the comment it already posted."""
    return f"<!-- errand:status:{task_id} -->"


class TokenSource(Protocol):
    """Installation tokens scoped to one repository and permissions: the App's own key
    (`AppAuth`) or, in a cloud stage execution, the token broker (`BrokeredTokens`)."""

    api_url: str
    web_url: str

    def token(
        self, repository: str, permissions: Mapping[str, str], installation_id: int = 0
    ) -> str: ...


class GitHubForge:
    """Implements shared.ports.Forge and shared.ports.ForgeFeedback. Thread-safe."""

    def __init__(
        self,
        auth: TokenSource,
        *,
        timeout_s: float = 600.0,
        tmp_dir: Path | None = None,
        seconds_between_writes: float = 1.0,
    ) -> None:
        self._auth = auth
        self._timeout_s = timeout_s
        self._tmp_dir = tmp_dir
        # PyGithub's pause between writes (1 s by default) follows GitHub's advice
        self._write_pause = seconds_between_writes
        self._lock = threading.Lock()
        self._clients: dict[str, Github] = {}
        self.issued: set[str] = set()  # tokens this process used, for scrubbing

    # ------------------------------------------------------------------ Forge

    def clone(self, repo: str, branch: str, dest: Path) -> str:
        name = self._name(repo)
        return self._git(name, READ).clone(self._url(name), branch, dest)

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
        name = self._name(repo)
        git = self._git(name, PUBLISH)
        # the description goes to the pull request, not into the commit
        pushed = git.publish(self._url(name), base_branch, branch, patch, commit_message, title, "")
        follow_up = branch == base_branch
        owner = name.split("/", 1)[0]
        with _errors(f"opening the pull request for {branch} on {name}"):
            gh = self._repo(name, PUBLISH)
            open_pulls = list(gh.get_pulls(state="open", head=f"{owner}:{branch}"))
            if open_pulls:
                pull = open_pulls[0]
                if not follow_up:
                    pull.edit(title=title, body=body)
            else:
                base = gh.default_branch if follow_up else base_branch
                pull = gh.create_pull(base=base, head=branch, title=title, body=body, draft=True)
            return ChangeRequest(
                branch=branch, url=pull.html_url, commit=pushed.commit, number=pull.number
            )

    # ------------------------------------------------------------------ ForgeFeedback

    def post_status(self, origin: GitHubOrigin, task_id: str, text: str) -> int:
        marker = status_marker(task_id)
        body = f"{marker}\n{text}"
        where = f"{origin.repository}#{origin.number}"
        with _errors(f"updating the status comment on {where}"):
            issue = self._repo(origin.repository, FEEDBACK, origin).get_issue(origin.number)
            if origin.status_comment_id:
                try:
                    issue.get_comment(origin.status_comment_id).edit(body)
                    return origin.status_comment_id
                except GithubException as exc:
                    if exc.status != 404:  # deleted by someone: post it again
                        raise
            for comment in issue.get_comments():
                if marker in (comment.body or ""):
                    comment.edit(body)
                    return int(comment.id)
            return int(issue.create_comment(body).id)

    def acknowledge(self, origin: GitHubOrigin) -> None:
        if not origin.comment_id:
            return
        with _errors(f"reacting to the comment on {origin.repository}#{origin.number}"):
            gh = self._repo(origin.repository, FEEDBACK, origin)
            if origin.review_comment:
                comment = gh.get_pull(origin.number).get_review_comment(origin.comment_id)
                comment.create_reaction("eyes")
            else:
                gh.get_issue(origin.number).get_comment(origin.comment_id).create_reaction("eyes")

    def role(self, repository: str, login: str) -> str:
        with _errors(f"reading {login}'s permission on {repository}"):
            try:
                return str(self._repo(repository, METADATA).get_collaborator_role_name(login))
            except GithubException as exc:
                if exc.status == 404:
                    return ""
                raise

    def describe(self, repository: str, number: int, body: str) -> None:
        with _errors(f"updating the description of {repository}#{number}"):
            self._repo(repository, {"pull_requests": "write", **METADATA}).get_pull(number).edit(
                body=body
            )

    def head_branch(self, repository: str, number: int) -> str:
        with _errors(f"reading the branch of {repository}#{number}"):
            pull = self._repo(repository, {"pull_requests": "read", **METADATA}).get_pull(number)
            head = pull.head
            same = head.repo is not None and head.repo.full_name.lower() == repository.lower()
            return str(head.ref) if same else ""

    # ------------------------------------------------------------------ helpers

    def _name(self, repo: str) -> str:
        name = github_repo(repo, self._auth.web_url)
        if name is None:
            raise InvalidInput(f"'{repo}' is not a GitHub repository; use owner/name")
        return name

    def _url(self, name: str) -> str:
        return f"{self._auth.web_url}/{name}.git"

    def _token(
        self, name: str, permissions: Mapping[str, str], origin: GitHubOrigin | None = None
    ) -> str:
        installation = origin.installation_id if origin else 0
        token = self._auth.token(name, permissions, installation)
        with self._lock:
            self.issued.add(token)
        return token

    def _git(self, name: str, permissions: Mapping[str, str]) -> LocalGitForge:
        token = self._token(name, permissions)
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env = {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{self._auth.web_url}/.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }
        return LocalGitForge(timeout_s=self._timeout_s, tmp_dir=self._tmp_dir, extra_env=env)

    def _repo(
        self, name: str, permissions: Mapping[str, str], origin: GitHubOrigin | None = None
    ) -> Repository:
        token = self._token(name, permissions, origin)
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                client = Github(
                    base_url=self._auth.api_url,
                    auth=Auth.Token(token),
                    user_agent="errand",
                    timeout=30,
                    seconds_between_writes=self._write_pause,
                )
                self._clients[token] = client
        return client.get_repo(name, lazy=True)


class _errors:
    """Turns PyGithub's exceptions into a ForgeError saying what failed and why (GitHub's own
    message; never a token)."""

    def __init__(self, doing: str) -> None:
        self._doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, GithubException):
            data = exc.data if isinstance(exc.data, dict) else {}
            message = str(data.get("message", "")) or type(exc).__name__
            hint = ""
            if exc.status == 403:
                hint = " — the App lacks a permission: accept its requested permissions"
            elif exc.status == 401:
                hint = " — check the App's id and private key (`errand github setup`)"
            raise ForgeError(
                f"GitHub answered {exc.status} {self._doing}: {message}{hint}"
            ) from None
