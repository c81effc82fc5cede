"""GitHub installation tokens for a stage execution that cannot read the App's key: asked of the
token broker (shared/token_broker.py) with the execution's own OIDC identity, from Cloud Run's
metadata server. A drop-in for `AppAuth` as `GitHubForge`'s token source.

One token per execution, for the task's repository and the stage's permissions, kept in memory
until five minutes before it expires and revoked when the stage ends (`revoke`), so it does not
outlive the stage by GitHub's hour. A call that wants another repository or more than the stage
was granted is refused here with the reason, before GitHub would refuse it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import httpx
from pydantic import ValidationError

from shared.domain import StageRequest
from shared.errors import ConfigError, ForgeError
from shared.token_broker import TokenGrant, TokenRequest, covers

log = logging.getLogger("errand.github")
REFRESH_MARGIN_S = 300
_IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"


def metadata_identity(metadata_host: str, timeout_s: float = 10.0) -> Callable[[str], str]:
    """A function from audience to a Google-signed OIDC token of this execution's service
    account (the metadata server every Cloud Run container reaches; `format=full` adds the
    email the broker checks)."""

    def identity(audience: str) -> str:
        try:
            response = httpx.get(
                f"http://{metadata_host}{_IDENTITY}",
                params={"audience": audience, "format": "full"},
                headers={"Metadata-Flavor": "Google"},
                timeout=timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ForgeError(
                f"could not reach the metadata server at {metadata_host} for this execution's "
                f"identity ({type(exc).__name__}); ERRAND_GITHUB_TOKENS=broker works only in "
                "a Cloud Run execution (or with GCE_METADATA_HOST)"
            ) from None
        if response.status_code != 200:
            raise ForgeError(
                f"the metadata server answered {response.status_code} for an identity token"
            )
        return response.text.strip()

    return identity


class BrokeredTokens:
    """Thread-safe. `stage()` is the request this execution runs (its lease holder set)."""

    def __init__(
        self,
        broker_url: str,
        identity: Callable[[str], str],
        stage: Callable[[], StageRequest | None],
        *,
        api_url: str,
        web_url: str,
        timeout_s: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not broker_url:
            raise ConfigError(
                "ERRAND_GITHUB_TOKENS=broker needs ERRAND_GITHUB_TOKEN_BROKER_URL: the URL of "
                "the functions' /api/github/token"
            )
        self.api_url = api_url.rstrip("/")
        self.web_url = web_url.rstrip("/")
        self._url = broker_url
        self._identity = identity
        self._stage = stage
        self._lock = threading.Lock()
        self._grant: TokenGrant | None = None
        self._http = httpx.Client(timeout=timeout_s, transport=transport)

    def token(
        self, repository: str, permissions: Mapping[str, str], installation_id: int = 0
    ) -> str:
        """The execution's token, if it covers `repository` and `permissions` (the broker
        chose the installation from the task: `installation_id` is not needed)."""
        grant = self._current()
        if grant.repository.lower() != repository.lower():
            raise ForgeError(
                f"this execution holds a GitHub token for {grant.repository} only, not {repository}"
            )
        if not covers(grant.permissions, permissions):
            raise ForgeError(
                f"this stage was granted {_describe(grant.permissions)} on {repository}, not "
                f"{_describe(permissions)}"
            )
        return grant.token

    def revoke(self) -> None:
        """Ends the token this execution holds (GitHub's `DELETE /installation/token`). Best
        effort: a token GitHub did not revoke still expires within the hour."""
        with self._lock:
            held, self._grant = self._grant, None
        if held is None:
            return
        try:
            response = self._http.delete(
                f"{self.api_url}/installation/token",
                headers={
                    "Authorization": f"token {held.token}",
                    "Accept": "application/vnd.github+json",
                    "User-Agent": "errand",
                },
            )
        except httpx.HTTPError as exc:
            log.warning("could not revoke the stage's GitHub token (%s)", type(exc).__name__)
            return
        if response.status_code != 204:
            log.warning("GitHub answered %s revoking the stage's token", response.status_code)

    def _current(self) -> TokenGrant:
        with self._lock:
            held = self._grant
            if held is not None and held.expires_at.timestamp() - REFRESH_MARGIN_S > time.time():
                return held
            self._grant = self._ask()
            return self._grant

    def _ask(self) -> TokenGrant:
        request = self._stage()
        if request is None or not request.holder:
            raise ForgeError("no stage holds a lease in this process: no GitHub token to ask for")
        body = TokenRequest(task_id=request.task_id, stage=request.stage, holder=request.holder)
        headers = {"Authorization": f"Bearer {self._identity(self._url)}"}
        try:
            response = self._http.post(self._url, json=body.model_dump(), headers=headers)
        except httpx.HTTPError as exc:
            raise ForgeError(
                f"could not reach the token broker at {self._url} ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise ForgeError(
                f"the token broker refused ({response.status_code}): {_message(response)}"
            )
        try:
            return TokenGrant.model_validate_json(response.content)
        except ValidationError:
            raise ForgeError("the token broker answered something that is not a grant") from None


def _describe(permissions: Mapping[str, str]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(permissions.items())) or "nothing"


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
