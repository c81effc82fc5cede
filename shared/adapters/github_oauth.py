"""GitHubAccount over GitHub's REST API and OAuth web flow (with PKCE), using httpx.

Base URLs are settings (ERRAND_GITHUB_URL, ERRAND_GITHUB_API_URL) so GitHub Enterprise and
the tests' local stand-in work the same. Tokens never appear in errors."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from shared.errors import ForgeError, NotFound, Unauthorized
from shared.ports import GitHubIdentity, RepoInfo

MAX_PAGES = 10
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
SCOPES = "read:user repo"


class GitHubOAuthClient:
    def __init__(
        self, web_url: str, api_url: str, client_id: str, client_secret: str, timeout_s: float = 15
    ) -> None:
        self._web = web_url.rstrip("/")
        self._api = api_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def __repr__(self) -> str:
        return f"GitHubOAuthClient(web_url={self._web!r}, api_url={self._api!r})"

    def authorize_url(self, state: str, code_challenge: str, redirect_uri: str) -> str:
        query = urlencode(
            {
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
                "allow_signup": "false",
            }
        )
        return f"{self._web}/login/oauth/authorize?{query}"

    def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> str:
        try:
            resp = self._http.post(
                f"{self._web}/login/oauth/access_token",
                data={
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": code_verifier,
                },
                headers={"Accept": "application/json"},
            )
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ForgeError(f"could not reach GitHub to finish the sign-in: {exc}") from None
        token = data.get("access_token") if isinstance(data, dict) else None
        if resp.status_code != 200 or not isinstance(token, str) or not token:
            reason = (
                data.get("error_description") or data.get("error") if isinstance(data, dict) else ""
            )
            raise Unauthorized(
                f"GitHub refused the sign-in ({reason or resp.status_code}); try again"
            )
        return token

    def user(self, token: str) -> GitHubIdentity:
        data = self._get(token, "/user")
        return GitHubIdentity(
            id=int(data["id"]),
            login=str(data["login"]),
            name=str(data.get("name") or ""),
            avatar_url=str(data.get("avatar_url") or ""),
        )

    def repos(self, token: str) -> list[RepoInfo]:
        items = self._pages(token, "/user/repos?per_page=100&sort=pushed")
        return [_repo(item) for item in items]

    def repo(self, token: str, full_name: str) -> RepoInfo:
        return _repo(self._get(token, f"/repos/{_path(full_name)}"))

    def branches(self, token: str, full_name: str) -> list[str]:
        items = self._pages(token, f"/repos/{_path(full_name)}/branches?per_page=100")
        return [str(item["name"]) for item in items]

    def _pages(self, token: str, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = self._api + path
        for _ in range(MAX_PAGES):
            if url is None:
                break
            resp = self._request(token, url)
            data = resp.json()
            if not isinstance(data, list):
                raise ForgeError(f"GitHub answered {path} with something other than a list")
            out.extend(d for d in data if isinstance(d, dict))
            found = _NEXT.search(resp.headers.get("link", ""))
            url = found.group(1) if found else None
        return out

    def _get(self, token: str, path: str) -> dict[str, Any]:
        data = self._request(token, self._api + path).json()
        if not isinstance(data, dict):
            raise ForgeError(f"GitHub answered {path} with something other than an object")
        return data

    def _request(self, token: str, url: str) -> httpx.Response:
        try:
            resp = self._http.get(
                url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
            )
        except httpx.HTTPError as exc:
            raise ForgeError(f"could not reach GitHub: {type(exc).__name__}") from None
        if resp.status_code == 401:
            raise Unauthorized("GitHub no longer accepts your sign-in; sign out and in again")
        if resp.status_code in (403, 404):
            raise NotFound("GitHub has no such repository, or your account cannot see it")
        if resp.status_code >= 400:
            raise ForgeError(f"GitHub answered HTTP {resp.status_code}")
        return resp


def _repo(item: dict[str, Any]) -> RepoInfo:
    return RepoInfo(
        full_name=str(item["full_name"]),
        default_branch=str(item.get("default_branch") or ""),
        private=bool(item.get("private")),
    )


def _path(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise NotFound(f"{full_name!r} is not a repository name (owner/name)")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"
