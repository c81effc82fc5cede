"""A local stand-in for GitHub: the part of the REST API Errand calls (App JWT, installation
tokens scoped to repositories and permissions, repositories, pull requests, issue comments,
reactions, collaborator permissions, labels) and git over smart HTTP, for tests.

    with GitHubStandIn(tmp_path) as gh:
        gh.add_repo("octo-org/calc", source_repo)
        gh.install(77, "octo-org", ["octo-org/calc"])
        gh.add_collaborator("octo-org/calc", "alice", "write")
        n = gh.open_issue("octo-org/calc", "Fix add", "add subtracts", "alice", labels=["errand"])
        ...  # point Errand at gh.api_url / gh.web_url with gh.private_key_pem and gh.app_id
        assert gh.pulls("octo-org/calc")[0].draft

Webhook payloads (built from the realistic samples in tests/fixtures/github/) come from
`tests.support.github_standin.payloads`."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.github_standin.api import routes
from tests.support.github_standin.server import Auth, Recorded, serve
from tests.support.github_standin.shapes import Shapes
from tests.support.github_standin.state import (
    Account,
    Comment,
    Installation,
    Issue,
    Pull,
    State,
)

APP_PERMISSIONS = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "metadata": "read",
}

__all__ = ["GitHubStandIn", "Recorded"]


class GitHubStandIn:
    def __init__(self, root: Path, app_id: int = 4242, app_slug: str = "errand-test") -> None:
        self.app_id = app_id
        root.mkdir(parents=True, exist_ok=True)
        self.state = State(root, app_id, app_slug)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # what GitHub hands out
            serialization.NoEncryption(),
        ).decode()
        self._public_key = key.public_key()
        self.state.private_key_pem = self.private_key_pem
        self.requests: list[Recorded] = []
        self._server: object | None = None
        self.api_url = ""
        self.web_url = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GitHubStandIn:
        auth = Auth(self.state, self._public_key)
        placeholder = Shapes(self.state, "", "")
        server = serve(self.state, routes(self.state, placeholder, auth), auth, self.requests)
        port = server.server_address[1]
        self.web_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.web_url}/api/v3"
        placeholder.api, placeholder.web = self.api_url, self.web_url
        self.shapes = placeholder
        self._server = server
        return self

    def stop(self) -> None:
        from http.server import ThreadingHTTPServer

        if isinstance(self._server, ThreadingHTTPServer):
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ arranging

    def add_repo(self, full_name: str, source: Path, default_branch: str = "main") -> Path:
        return self.state.add_repo(full_name, source, default_branch).path

    def install(
        self,
        installation_id: int,
        account: str,
        repos: list[str],
        permissions: dict[str, str] | None = None,
    ) -> None:
        acc = Account(account, 10_000 + installation_id, "Organization")
        with self.state.lock:
            self.state.installations[installation_id] = Installation(
                installation_id, acc, list(repos), dict(permissions or APP_PERMISSIONS)
            )

    def suspend(self, installation_id: int) -> None:
        self.state.installations[installation_id].suspended = True

    def add_collaborator(self, repo: str, login: str, role: str) -> None:
        self.state.repos[repo].collaborators[login] = role

    def user(self, login: str) -> Account:
        return Account(login, 500_000 + sum(map(ord, login)))

    def open_issue(
        self, repo: str, title: str, body: str, login: str, labels: list[str] | None = None
    ) -> int:
        n = self.state.next_number(repo)
        issue = Issue(repo, n, title, body, self.user(login), list(labels or []))
        with self.state.lock:
            self.state.issues[(repo, n)] = issue
        return n

    def add_comment(self, repo: str, number: int, body: str, login: str) -> Comment:
        now = time.time()
        c = Comment(self.state.next_id(), repo, number, body, self.user(login), now, now)
        with self.state.lock:
            self.state.comments[c.id] = c
        return c

    def add_review_comment(
        self, repo: str, number: int, body: str, login: str, path: str, line: int, hunk: str
    ) -> Comment:
        now = time.time()
        pull = self.state.pulls[(repo, number)]
        sha = self.state.head_sha(repo, pull.head)
        c = Comment(self.state.next_id(), repo, number, body, self.user(login), now, now)
        c.review = {
            "path": path,
            "line": line,
            "original_line": line,
            "side": "RIGHT",
            "start_line": None,
            "diff_hunk": hunk,
            "commit_id": sha,
            "original_commit_id": sha,
            "pull_request_review_id": self.state.next_id(),
            "subject_type": "line",
        }
        with self.state.lock:
            self.state.review_comments[c.id] = c
        return c

    def register_from_manifest(self, manifest: dict[str, object]) -> str:
        """What GitHub does when the person clicks "Create GitHub App" on the manifest page:
        returns the code it appends to the manifest's redirect_url."""
        code = secrets.token_hex(10)
        self.manifest = manifest
        self.state.manifests[code] = dict(manifest)
        return code

    # ------------------------------------------------------------------ inspecting

    def pulls(self, repo: str) -> list[Pull]:
        return sorted(
            (p for p in self.state.pulls.values() if p.repo == repo), key=lambda p: p.number
        )

    def comments(self, repo: str, number: int) -> list[Comment]:
        return sorted(
            (c for c in self.state.comments.values() if (c.repo, c.number) == (repo, number)),
            key=lambda c: c.id,
        )

    def issue(self, repo: str, number: int) -> Issue:
        return self.state.issues[(repo, number)]

    def tokens(self) -> list[str]:
        """Every installation token minted so far."""
        return list(self.state.tokens)

    def bare_repo(self, repo: str) -> Path:
        return self.state.repos[repo].path
