"""Which repositories a user may pick, and their branches: GitHub repositories their token can
see (multi-user mode), local repositories the operator allows (ERRAND_LOCAL_REPOS) and, in
single-user mode, the local ones earlier tasks used."""

from __future__ import annotations

import builtins
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from shared.accounts import User
from shared.errors import ForgeError, InvalidInput, NotFound
from shared.keys import GITHUB
from shared.ports import RepoInfo

if TYPE_CHECKING:
    from shared.wiring import Deps

GIT_TIMEOUT_S = 10.0


class RepoService:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def available(self, user: User) -> list[RepoInfo]:
        out: builtins.list[RepoInfo] = []
        if self._deps.settings.multi_user:
            out.extend(self._deps.github_oauth.repos(self._token(user)))
        seen = {r.full_name for r in out}
        for path in self._local_candidates(user):
            if str(path) not in seen and _is_repo(path):
                seen.add(str(path))
                out.append(RepoInfo(full_name=str(path), default_branch=_head(path), private=True))
        return out

    def branches(self, user: User, full_name: str) -> builtins.list[str]:
        if full_name.startswith("/"):
            path = Path(full_name)
            if not self._local_allowed(user, path) or not _is_repo(path):
                raise NotFound(f"no repository {full_name!r} you may use")
            return _git(path, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
        if not self._deps.settings.multi_user:
            raise NotFound(
                f"no repository {full_name!r}: GitHub repositories need GitHub sign-in "
                "(multi-user mode); use a local path"
            )
        return self._deps.github_oauth.branches(self._token(user), full_name)

    def require_access(self, user: User, full_name: str) -> None:
        try:
            self._deps.github_oauth.repo(self._token(user), full_name)
        except NotFound:
            raise InvalidInput(
                f"your GitHub account cannot access {full_name!r}: check the name, or ask "
                "its owner for access"
            ) from None

    def _token(self, user: User) -> str:
        try:
            return self._deps.keys.reveal(user.id, GITHUB)[0]
        except NotFound:
            raise InvalidInput(
                "this account has no GitHub sign-in (it was made by a webhook or the operator): "
                "sign in with GitHub once"
            ) from None

    def _local_candidates(self, user: User) -> builtins.list[Path]:
        found: builtins.list[Path] = []
        for root in self._deps.settings.local_repos:
            if _is_repo(root):
                found.append(root.resolve())
            elif root.is_dir():
                found.extend(sorted(p.resolve() for p in root.iterdir() if _is_repo(p)))
        if not self._deps.settings.multi_user:
            for task in self._deps.store.list_tasks(200, owner=user.id):
                if task.repo.startswith("/"):
                    found.append(Path(task.repo))
        return found

    def _local_allowed(self, user: User, path: Path) -> bool:
        if not self._deps.settings.multi_user:
            return True  # single-user mode: the operator's own machine
        resolved = path.resolve()
        return any(resolved.is_relative_to(r.resolve()) for r in self._deps.settings.local_repos)


def _is_repo(path: Path) -> bool:
    return path.is_dir() and ((path / ".git").exists() or (path / "HEAD").is_file())


def _head(path: Path) -> str:
    try:
        return _git(path, "symbolic-ref", "--short", "HEAD").strip()
    except ForgeError:
        return ""


def _git(path: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(path), "-c", "core.fsmonitor=false", *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env={"GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ForgeError(f"could not read the repository {path}: {exc}") from None
    if done.returncode != 0:
        raise ForgeError(f"could not read the repository {path}: {done.stderr.strip()[:200]}")
    return done.stdout
