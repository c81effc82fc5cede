"""A local stand-in for GitHub's OAuth web flow and the user-token REST calls Errand makes,
speaking the documented wire format over real HTTP:

- `GET /login/oauth/authorize` (client_id, redirect_uri, state, code_challenge,
  code_challenge_method=S256): signs in the user the test chose with `sign_in_as()` and
  redirects to `redirect_uri?code=...&state=...`, as GitHub does after consent.
- `POST /login/oauth/access_token` (form: client_id, client_secret, code, redirect_uri,
  code_verifier; `Accept: application/json`): `{"access_token", "token_type", "scope"}`, or
  `{"error": "bad_verification_code", ...}` with 200 as GitHub answers.
- `GET /user`, `GET /user/repos`, `GET /repos/{owner}/{name}`,
  `GET /repos/{owner}/{name}/branches` with `Authorization: Bearer <token>`; 401 for a bad
  token, 404 for a repository the token's user cannot see; lists paginate with `Link`.

    with GitHubOAuthStandIn() as gh:
        gh.add_user(1, "alice", repos={"alice/app": ["main", "dev"]})
        gh.sign_in_as("alice")
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

PAGE = 2  # small pages, so that clients must follow Link headers


@dataclass
class _User:
    id: int
    login: str
    name: str
    repos: dict[str, list[str]]  # full_name -> branches (first is the default)


@dataclass
class _State:
    client_id: str
    client_secret: str
    users: dict[str, _User] = field(default_factory=dict)
    signed_in: str = ""
    codes: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class GitHubOAuthStandIn:
    def __init__(self, client_id: str = "Iv1.standin", client_secret: str = "standin-secret"):
        self.state = _State(client_id, client_secret)
        state = self.state

        class Handler(_Handler):
            standin = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_user(
        self, github_id: int, login: str, name: str = "", repos: dict[str, list[str]] | None = None
    ) -> None:
        with self.state.lock:
            self.state.users[login] = _User(github_id, login, name or login, dict(repos or {}))

    def sign_in_as(self, login: str) -> None:
        with self.state.lock:
            self.state.signed_in = login

    def token_for(self, login: str) -> str:
        """A token as if `login` had completed the flow (for API-only tests)."""
        token = "gho_" + secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens[token] = login
        return token

    def __enter__(self) -> GitHubOAuthStandIn:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    standin: _State

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.standin.lock:
            self.standin.requests.append(f"GET {parts.path}")
        if parts.path == "/login/oauth/authorize":
            self._authorize(query)
            return
        login = self._login()
        if login is None:
            self._json(401, {"message": "Bad credentials"})
            return
        user = self.standin.users[login]
        path = parts.path.rstrip("/")
        if path == "/user":
            self._json(200, _user_json(user))
        elif path == "/user/repos":
            items = [_repo_json(n, b) for n, b in sorted(user.repos.items())]
            self._paged(items, query)
        elif path.startswith("/repos/"):
            bits = path.split("/")
            full_name = "/".join(bits[2:4])
            if len(bits) < 4 or full_name not in user.repos:
                self._json(404, {"message": "Not Found"})
            elif len(bits) == 4:
                self._json(200, _repo_json(full_name, user.repos[full_name]))
            elif bits[4:] == ["branches"]:
                branches = user.repos[full_name]
                self._paged([{"name": b, "protected": False} for b in branches], query)
            else:
                self._json(404, {"message": "Not Found"})
        else:
            self._json(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if parts.path != "/login/oauth/access_token":
            self._json(404, {"message": "Not Found"})
            return
        s = self.standin
        with s.lock:
            pending = s.codes.pop(form.get("code", ""), None)
        if form.get("client_id") != s.client_id or form.get("client_secret") != s.client_secret:
            self._json(200, {"error": "incorrect_client_credentials"})
            return
        if pending is None:
            self._json(200, {"error": "bad_verification_code"})
            return
        login, redirect_uri, challenge, _ = pending
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if digest.rstrip(b"=").decode() != challenge:
            self._json(200, {"error": "invalid_grant", "error_description": "PKCE failed"})
            return
        if form.get("redirect_uri") != redirect_uri:
            self._json(200, {"error": "redirect_uri_mismatch"})
            return
        token = "gho_" + secrets.token_hex(16)
        with s.lock:
            s.tokens[token] = login
        self._json(200, {"access_token": token, "token_type": "bearer", "scope": "repo,read:user"})

    def _authorize(self, query: dict[str, str]) -> None:
        s = self.standin
        if query.get("client_id") != s.client_id or query.get("code_challenge_method") != "S256":
            self._json(400, {"message": "bad client_id or missing PKCE"})
            return
        code = secrets.token_hex(10)
        redirect_uri = query.get("redirect_uri", "")
        with s.lock:
            s.codes[code] = (s.signed_in, redirect_uri, query.get("code_challenge", ""), "")
        target = f"{redirect_uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        self.send_response(302)
        self.send_header("Location", target)
        self.end_headers()

    def _login(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        with self.standin.lock:
            return self.standin.tokens.get(token)

    def _paged(self, items: list[dict[str, Any]], query: dict[str, str]) -> None:
        page = int(query.get("page", "1"))
        chunk = items[(page - 1) * PAGE : page * PAGE]
        headers = {}
        if page * PAGE < len(items):
            base = f"http://{self.headers['Host']}{urlsplit(self.path).path}"
            nxt = {**query, "page": str(page + 1)}
            headers["Link"] = f'<{base}?{urlencode(nxt)}>; rel="next"'
        self._json(200, chunk, headers)

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _user_json(user: _User) -> dict[str, Any]:
    return {
        "id": user.id,
        "login": user.login,
        "name": user.name,
        "avatar_url": f"https://avatars.example/u/{user.id}",
        "type": "User",
    }


def _repo_json(full_name: str, branches: list[str]) -> dict[str, Any]:
    return {
        "id": abs(hash(full_name)) % 10**8,
        "full_name": full_name,
        "name": full_name.split("/")[1],
        "private": True,
        "default_branch": branches[0] if branches else "main",
    }
