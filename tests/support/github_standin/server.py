"""The stand-in's HTTP front: GitHub's REST API under /api/v3 (as GitHub Enterprise serves
it) and git over smart HTTP at /<owner>/<repo>.git, with GitHub's authentication rules:

- App endpoints take a JWT (RS256, signed with the App's private key, `iss` = the App id, at
  most ten minutes long);
- repository endpoints take an installation token (`Authorization: token|Bearer ghs_...`)
  limited to the repositories and permissions it was minted for;
- git takes the installation token as HTTP Basic (`x-access-token:<token>`).
Every request is recorded (method, path, query, which credential kind it carried)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.support.github_standin import git_http
from tests.support.github_standin.state import State, Token, allows

DOCS = "https://docs.github.com/rest"


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    auth: str  # "jwt" | "token" | "basic" | "" | "bad"
    body: bytes
    user_agent: str


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[["Request"], tuple[int, Any]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    args: dict[str, str]

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise HttpError(400, "Problems parsing JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "Problems parsing JSON")
        return data

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.routes.append((method, re.compile(f"^{regex}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        found = False
        for m, regex, handler in self.routes:
            hit = regex.match(path)
            if hit:
                found = True
                if m == method:
                    return handler, hit.groupdict()
        raise HttpError(404 if not found else 405, "Not Found")


class Auth:
    """GitHub's credential checks."""

    def __init__(self, state: State, public_key: Any) -> None:
        self.s = state
        self.public_key = public_key

    def app(self, req: Request) -> None:
        kind, value = _credential(req.headers)
        if kind != "bearer" or value.startswith("ghs_"):
            raise HttpError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                value,
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise HttpError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value "
                "representing the future time at which the assertion expires",
            ) from None
        except jwt.PyJWTError as exc:
            raise HttpError(401, f"A JSON web token could not be decoded ({exc})") from None
        if str(claims["iss"]) != str(self.s.app_id):
            raise HttpError(401, "'Issuer' claim ('iss') must be the App's id or client id")
        if claims["exp"] - time.time() > 600 + 30 or claims["exp"] - claims["iat"] > 660:
            raise HttpError(401, "'Expiration time' claim ('exp') is too far in the future")

    def token(self, req: Request, repo: str, needed: dict[str, str]) -> Token:
        kind, value = _credential(req.headers)
        if kind not in ("token", "bearer") or not value.startswith("ghs_"):
            raise HttpError(401, "Requires authentication")
        return self.check(value, repo, needed)

    def installation_token(self, req: Request) -> Token:
        """The live installation token the request carries, whatever its repositories."""
        kind, value = _credential(req.headers)
        with self.s.lock:
            token = self.s.tokens.get(value) if value.startswith("ghs_") else None
        if kind not in ("token", "bearer") or token is None or token.expires_at < time.time():
            raise HttpError(401, "Bad credentials")
        return token

    def check(self, value: str, repo: str, needed: dict[str, str]) -> Token:
        with self.s.lock:
            token = self.s.tokens.get(value)
        if token is None or token.expires_at < time.time():
            raise HttpError(401, "Bad credentials")
        installation = self.s.installations.get(token.installation_id)
        if installation is None or installation.suspended:
            raise HttpError(401, "Bad credentials")
        if repo not in self.s.repos:
            raise HttpError(404, "Not Found")
        if repo not in token.repositories:
            raise HttpError(404, "Not Found")  # GitHub hides what a token cannot see
        if not allows(token.permissions, needed):
            raise HttpError(403, "Resource not accessible by integration")
        return token

    def kind(self, headers: dict[str, str]) -> str:
        k, v = _credential(headers)
        if not k:
            return ""
        if k == "basic":
            return "basic"
        return "token" if v.startswith("ghs_") else "jwt"


def _credential(headers: dict[str, str]) -> tuple[str, str]:
    raw = headers.get("authorization", "").strip()
    scheme, _, value = raw.partition(" ")
    return scheme.lower(), value.strip()


def basic_token(headers: dict[str, str]) -> str:
    kind, value = _credential(headers)
    if kind != "basic":
        return ""
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return ""
    return password if user == "x-access-token" else ""


def serve(
    state: State,
    router: Router,
    auth: Auth,
    log: list[Recorded],
    port: int = 0,
) -> ThreadingHTTPServer:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            body = git_http.read_body(self.rfile, headers)
            log.append(
                Recorded(
                    self.command,
                    parts.path,
                    parts.query,
                    auth.kind(headers),
                    body,
                    headers.get("user-agent", ""),
                )
            )
            if parts.path.startswith("/api/v3/"):
                self._api(parts.path.removeprefix("/api/v3"), parts.query, headers, body)
            elif re.match(r"^/[^/]+/[^/]+\.git/", parts.path):
                self._git(parts.path, parts.query, headers, body)
            else:
                self._send(404, {"message": "Not Found"})

        def _api(self, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
            try:
                handler, args = router.match(self.command, path.rstrip("/") or "/")
                req = Request(self.command, path, parse_qs(query), headers, body, args)
                status, payload = handler(req)
            except HttpError as exc:
                status, payload = (
                    exc.status,
                    {
                        "message": exc.message,
                        "documentation_url": DOCS,
                        "status": str(exc.status),
                    },
                )
            extra: list[tuple[str, str]] = []
            if isinstance(payload, tuple):  # (items, link header)
                payload, link = payload
                if link:
                    extra.append(("Link", link))
            self._send(status, payload, extra)

        def _git(self, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
            owner, name = path.split("/")[1:3]
            repo = f"{owner}/{name.removesuffix('.git')}"
            push = "git-receive-pack" in path or "service=git-receive-pack" in query
            needed = {"contents": "write" if push else "read"}
            token = basic_token(headers)
            try:
                if not token:
                    raise HttpError(401, "Authentication required")
                auth.check(token, repo, needed)
            except HttpError as exc:
                if exc.status == 401 or exc.status == 404:
                    # what GitHub answers git: ask for Basic credentials
                    self._raw(401, [("WWW-Authenticate", 'Basic realm="GitHub"')], b"")
                else:
                    self._raw(403, [("Content-Type", "text/plain")], exc.message.encode())
                return
            status, out_headers, payload = git_http.run_backend(
                state.root, self.command, path, query, headers, body, "x-access-token"
            )
            self._raw(status, out_headers, payload)

        def _send(self, status: int, payload: Any, extra: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
            data = b"" if status == 204 else json.dumps(payload).encode()
            headers = [("Content-Type", "application/json; charset=utf-8"), *extra]
            headers.append(("X-GitHub-Media-Type", "github.v3; format=json"))
            self._raw(status, headers, data)

        def _raw(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", port), H)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
