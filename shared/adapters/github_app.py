"""GitHub App authentication: a JWT (RS256) signed with the App's private key, exchanged for
installation access tokens scoped to one repository and the permissions a call needs.

Tokens are cached per (installation, repository, permissions) until five minutes before they
expire, so one task's calls share them and no call carries more than it needs. Tokens never
leave this object except as the return value of `token()`; errors never quote them."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx
import jwt

from shared.errors import ConfigError, ForgeError

API_VERSION = "2022-11-28"
JWT_LIFETIME_S = 540  # GitHub allows ten minutes; leave room for clock drift
JWT_BACKDATE_S = 60
REFRESH_MARGIN_S = 300

READ = {"contents": "read", "metadata": "read"}
PUBLISH = {"contents": "write", "pull_requests": "write", "metadata": "read"}
FEEDBACK = {"issues": "write", "pull_requests": "write", "metadata": "read"}
METADATA = {"metadata": "read"}


@dataclass(frozen=True)
class _Cached:
    value: str
    expires_at: float


class AppAuth:
    def __init__(
        self,
        app_id: int,
        private_key: str,
        api_url: str,
        *,
        web_url: str = "https://github.com",
        timeout_s: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not app_id or not private_key.strip():
            raise ConfigError(
                "the GitHub App is not configured: run `errand github setup` (or set "
                "ERRAND_GITHUB_APP_ID and ERRAND_GITHUB_PRIVATE_KEY)"
            )
        self.app_id = app_id
        self.api_url = api_url.rstrip("/")
        self.web_url = web_url.rstrip("/")
        self._key = private_key
        self._lock = threading.Lock()
        self._tokens: dict[tuple[int, str, tuple[tuple[str, str], ...]], _Cached] = {}
        self._installations: dict[str, int] = {}
        self._http = httpx.Client(timeout=timeout_s, transport=transport)

    def app_jwt(self) -> str:
        now = int(time.time())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": str(self.app_id)}
        try:
            return jwt.encode(claims, self._key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                f"the GitHub App's private key cannot sign ({type(exc).__name__}); store the "
                ".pem file GitHub generated for the App with `errand github setup`"
            ) from None

    def installation_for(self, repository: str) -> int:
        """The installation of the App on `repository` (owner/name)."""
        key = repository.lower()
        with self._lock:
            if key in self._installations:
                return self._installations[key]
        data = self._app_call("GET", f"/repos/{repository}/installation", repository)
        installation = _as_int(data.get("id"))
        with self._lock:
            self._installations[key] = installation
        return installation

    def token(
        self, repository: str, permissions: Mapping[str, str], installation_id: int = 0
    ) -> str:
        """An installation token for `repository` only, with exactly `permissions`."""
        installation = installation_id or self.installation_for(repository)
        scope = tuple(sorted(permissions.items()))
        key = (installation, repository.lower(), scope)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached.expires_at - REFRESH_MARGIN_S > time.time():
                return cached.value
        value, expires = self.mint(repository, permissions, installation)
        with self._lock:
            self._tokens[key] = _Cached(value, expires)
        return value

    def mint(
        self, repository: str, permissions: Mapping[str, str], installation_id: int = 0
    ) -> tuple[str, float]:
        """A new token for `repository` only, with exactly `permissions`, and when it expires
        (epoch seconds); never cached, so one holder's token is not another's (the token
        broker hands each stage execution its own)."""
        installation = installation_id or self.installation_for(repository)
        name = repository.split("/", 1)[1]
        data = self._app_call(
            "POST",
            f"/app/installations/{installation}/access_tokens",
            repository,
            {"repositories": [name], "permissions": dict(permissions)},
        )
        return str(data["token"]), _parse_time(str(data.get("expires_at", "")))

    def _app_call(
        self, method: str, path: str, repository: str, body: object | None = None
    ) -> dict[str, object]:
        headers = {
            "Authorization": f"Bearer {self.app_jwt()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "errand",
        }
        try:
            response = self._http.request(method, self.api_url + path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise ForgeError(
                f"could not reach GitHub at {self.api_url} ({type(exc).__name__}); check the "
                "network and ERRAND_GITHUB_API_URL"
            ) from None
        if response.status_code in (200, 201):
            data = response.json()
            if isinstance(data, dict):
                return data
        raise ForgeError(self._explain(response, repository))

    def _explain(self, response: httpx.Response, repository: str) -> str:
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = response.text[:200]
        status = response.status_code
        if status == 401:
            return (
                f"GitHub refused the App's credentials ({message}); check the App id "
                f"{self.app_id} and its private key (`errand github setup`), and this "
                "machine's clock"
            )
        if status == 404:
            return (
                f"the Errand GitHub App is not installed on {repository} (or cannot see it); "
                f"install it on the repository: {self.web_url}/settings/installations"
            )
        if status == 422:
            return (
                f"GitHub would not grant a token for {repository}: {message}; give the App "
                "access to the repository and accept its requested permissions"
            )
        if status == 403:
            return f"GitHub refused the App access to {repository}: {message}"
        return f"GitHub answered {status} for {repository}: {message}"


def _as_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ForgeError(f"GitHub answered an installation without a numeric id ({value!r})")


def _parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 600  # GitHub always sends it; a short life if it did not
