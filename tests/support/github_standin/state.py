"""What the GitHub stand-in knows: the App, its installations, repositories (bare git
repositories on disk), issues, pull requests, comments, reactions, collaborators and the
installation tokens it minted. Plain data behind one lock; the HTTP layer reads and writes it."""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_TTL_S = 3600
# what GitHub's role names grant, highest first (the legacy `permission` field folds maintain
# into write and triage into read)
ROLES = ("admin", "maintain", "write", "triage", "read")
LEGACY = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
LEVELS = {"read": 1, "write": 2, "admin": 3}


@dataclass
class Account:
    login: str
    id: int
    type: str = "User"  # User | Organization | Bot


@dataclass
class Installation:
    id: int
    account: Account
    repositories: list[str]  # full names
    permissions: dict[str, str]
    suspended: bool = False


@dataclass
class Token:
    value: str
    installation_id: int
    repositories: list[str]  # full names the token is limited to
    permissions: dict[str, str]
    expires_at: float


@dataclass
class Comment:
    id: int
    repo: str
    number: int  # issue or pull request number
    body: str
    user: Account
    created_at: float
    updated_at: float
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (login, content)
    review: dict[str, Any] | None = None  # path, line, diff_hunk, commit_id for review comments


@dataclass
class Issue:
    repo: str
    number: int
    title: str
    body: str
    user: Account
    labels: list[str] = field(default_factory=list)
    state: str = "open"


@dataclass
class Pull:
    repo: str
    number: int
    title: str
    body: str
    head: str
    base: str
    draft: bool
    user: Account
    state: str = "open"
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass
class Repo:
    full_name: str
    id: int
    owner: Account
    path: Path  # the bare repository
    default_branch: str = "main"
    private: bool = True
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role name


class State:
    def __init__(self, root: Path, app_id: int, app_slug: str) -> None:
        self.root = root
        self.app_id = app_id
        self.app_slug = app_slug
        self.bot = Account(f"{app_slug}[bot]", 900_000 + app_id, "Bot")
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.issues: dict[tuple[str, int], Issue] = {}
        self.pulls: dict[tuple[str, int], Pull] = {}
        self.comments: dict[int, Comment] = {}
        self.review_comments: dict[int, Comment] = {}
        self.manifests: dict[str, dict[str, Any]] = {}  # manifest-flow code -> manifest
        self.private_key_pem = ""
        self.webhook_secret = "whsec-" + secrets.token_hex(16)
        self._ids = 1000
        self._numbers: dict[str, int] = {}

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def next_number(self, repo: str) -> int:
        with self.lock:
            self._numbers[repo] = self._numbers.get(repo, 0) + 1
            return self._numbers[repo]

    def add_repo(self, full_name: str, source: Path, default_branch: str = "main") -> Repo:
        owner, _, name = full_name.partition("/")
        path = self.root / owner / f"{name}.git"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "--quiet", "--bare", "--no-local", str(source), str(path)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["git", "--git-dir", str(path), "symbolic-ref", "HEAD", f"refs/heads/{default_branch}"],
            check=True,
        )
        repo = Repo(full_name, self.next_id(), Account(owner, self.next_id(), "Organization"), path)
        repo.default_branch = default_branch
        with self.lock:
            self.repos[full_name] = repo
        return repo

    def mint(self, installation_id: int, repos: list[str], permissions: dict[str, str]) -> Token:
        token = Token(
            value="ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36],
            installation_id=installation_id,
            repositories=repos,
            permissions=permissions,
            expires_at=time.time() + TOKEN_TTL_S,
        )
        with self.lock:
            self.tokens[token.value] = token
        return token

    def head_sha(self, repo: str, branch: str) -> str:
        done = subprocess.run(
            ["git", "--git-dir", str(self.repos[repo].path), "rev-parse", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else "0" * 40

    def role(self, repo: str, login: str) -> str:
        r = self.repos[repo]
        if login == r.owner.login:
            return "admin"
        return r.collaborators.get(login, "")


def allows(granted: dict[str, str], needed: dict[str, str]) -> bool:
    """Whether permissions `granted` cover `needed` (write covers read)."""
    return all(LEVELS.get(granted.get(k, ""), 0) >= LEVELS[v] for k, v in needed.items())
