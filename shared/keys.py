"""Users' own credentials: model keys per provider (with an optional OpenAI-compatible base
URL) and their GitHub token. Write-only to the outside: a key is never returned, only its
provider, last four characters and when it was added.

Each credential is sealed by the Secrets port with its own data key, bound (associated data)
to its user and provider, so a ciphertext moved to another user or provider does not open."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from shared.accounts import CredentialInfo, StoredCredential
from shared.errors import InvalidInput, NotFound
from shared.ports import Credentials, Secrets

GITHUB = "_github"  # the user's OAuth token: internal, never listed or set through the API
MAX_KEY_CHARS = 4096
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")


def context(user_id: str, provider: str) -> str:
    return f"errand-credential|user:{user_id}|provider:{provider}"


class KeyService:
    def __init__(
        self,
        credentials: Credentials,
        secrets: Secrets,
        providers: Callable[[], frozenset[str]],
        private_bases_allowed: bool,
    ) -> None:
        self._credentials = credentials
        self._secrets = secrets
        self._providers = providers
        self._private_bases_allowed = private_bases_allowed

    def put(self, user_id: str, provider: str, key: str, api_base: str = "") -> CredentialInfo:
        self._check_provider(provider)
        key = _check_key(key)
        api_base = self._check_base(api_base.strip())
        info = CredentialInfo(provider=provider, last4=key[-4:], api_base=api_base)
        self._store(user_id, info, key)
        return info

    def put_github_token(self, user_id: str, token: str) -> None:
        self._store(user_id, CredentialInfo(provider=GITHUB, last4=token[-4:]), token)

    def list(self, user_id: str) -> list[CredentialInfo]:
        return [c for c in self._credentials.list_credentials(user_id) if c.provider != GITHUB]

    def providers(self, user_id: str) -> set[str]:
        return {c.provider for c in self.list(user_id)}

    def delete(self, user_id: str, provider: str) -> None:
        if provider == GITHUB:
            raise NotFound(f"no key stored for provider {provider!r}")
        self._credentials.delete_credential(user_id, provider)

    def reveal(self, user_id: str, provider: str) -> tuple[str, str]:
        """(key, api_base) for the trusted side that makes the call. Raises NotFound."""
        stored = self._credentials.get_credential(user_id, provider)
        plain = self._secrets.decrypt(stored.ciphertext, context(user_id, provider))
        return plain.decode(), stored.info.api_base

    def rotate(self) -> int:
        """A new key-encryption key, every data key re-wrapped under it, the old ones
        forgotten. Returns how many credentials were re-wrapped."""
        self._secrets.rotate()
        count = 0
        for _ in range(3):  # a credential written meanwhile under the old key: go again
            pending = 0
            for user_id, stored in self._credentials.all_credentials():
                ctx = context(user_id, stored.info.provider)
                new = self._secrets.rewrap(stored.ciphertext, ctx)
                if new == stored.ciphertext:
                    continue
                pending += 1
                if self._credentials.replace_ciphertext(
                    user_id, stored.info.provider, stored.ciphertext, new
                ):
                    count += 1
            if not pending:
                break
        self._secrets.retire()
        return count

    def _store(self, user_id: str, info: CredentialInfo, secret: str) -> None:
        sealed = self._secrets.encrypt(secret.encode(), context(user_id, info.provider))
        self._credentials.put_credential(user_id, StoredCredential(info=info, ciphertext=sealed))

    def _check_provider(self, provider: str) -> None:
        if not _PROVIDER.match(provider):
            raise InvalidInput(
                f"provider {provider[:60]!r} is not a provider name: use litellm's, e.g. "
                "openai, anthropic, gemini, mistral (lower case)"
            )
        if provider not in self._providers():
            raise InvalidInput(
                f"litellm knows no provider {provider!r}: use one of its names (openai, "
                "anthropic, gemini, ...); for an OpenAI-compatible server use 'openai' with "
                "api_base"
            )

    def _check_base(self, api_base: str) -> str:
        if not api_base:
            return ""
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(api_base) > 500:
            raise InvalidInput(
                "api_base must be an http(s) URL of at most 500 characters, e.g. "
                "https://llm.example.com/v1"
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise InvalidInput(
                "api_base must not carry credentials, a query or a fragment; send the key as "
                "'key' instead"
            )
        if not self._private_bases_allowed and _private_host(parts.hostname):
            raise InvalidInput(
                f"api_base {parts.hostname} is a local or private address, which this server "
                "does not call for users; use a public endpoint"
            )
        return api_base.rstrip("/")


def _check_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise InvalidInput("key is empty: paste the API key from your provider's console")
    if len(key) > MAX_KEY_CHARS or any(ch.isspace() or ord(ch) < 32 for ch in key):
        raise InvalidInput(
            f"the key must be one line without spaces, at most {MAX_KEY_CHARS} characters"
        )
    return key


def _private_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.endswith((".internal", ".local"))
    return not address.is_global
