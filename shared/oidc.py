"""Verifies the OIDC tokens Google attaches to Cloud Tasks and Cloud Scheduler requests (and
that a Cloud Run execution fetches from its metadata server): `Authorization: Bearer <JWT>`,
RS256-signed by Google's keys (a JWKS URL), issued by Google, for one URL as audience, as one
service account with a verified email. One verifier admits exactly one (audience, account)
pair: dispatch starts jobs and the sweep redelivers stages, so each route admits only its own
caller (shared/gcp_wiring.py pairs them).

Google's keys are fetched once and cached (5 minutes; an unknown key id refetches, so key
rotation is picked up). When the keys cannot be fetched the request is answered 503, which
makes Cloud Tasks retry, rather than 401, which it would also retry but would read as an
attacker."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from shared.errors import ConfigError, ErrandError

_LEEWAY_S = 60  # clock skew between Google and this instance


class InvalidToken(ErrandError):
    code = "unauthorized"
    http_status = 401


class VerifierUnavailable(ErrandError):
    code = "oidc_keys_unavailable"
    http_status = 503


class OidcVerifier:
    """Thread-safe: the key cache is shared by the instance's request threads."""

    def __init__(
        self,
        audience: str,
        issuers: Sequence[str],
        email: str,
        jwks_url: str,
        *,
        caller: str = "the queue's invoker service account",
        needs: str = "ERRAND_DISPATCH_URL (the audience) and ERRAND_TASKS_INVOKER (the service "
        "account Cloud Tasks signs as)",
    ) -> None:
        if not (audience and issuers and email and jwks_url):
            raise ConfigError(f"verifying these calls needs {needs}")
        self._caller = caller
        self._audience = audience
        self._issuers = list(issuers)
        self._email = email
        self._jwks_url = jwks_url
        self._lock = threading.Lock()
        self._keys: Any = None

    def verify(self, authorization: str) -> dict[str, Any]:
        """The token's claims; raises InvalidToken saying what was wrong, or
        VerifierUnavailable when Google's keys cannot be fetched."""
        import jwt

        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("send an OIDC token: 'Authorization: Bearer <token>'")
        token = token.strip()
        try:
            key = self._key_set().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise VerifierUnavailable(f"could not fetch the OIDC signing keys: {exc}") from exc
        except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
            raise InvalidToken(f"the token is not signed by a known key: {exc}") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuers,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "email"]},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the token was refused: {exc}") from exc
        if claims.get("email") != self._email or claims.get("email_verified") is not True:
            raise InvalidToken(f"the token is for {claims.get('email')!r}, not {self._caller}")
        return claims

    def _key_set(self) -> Any:
        with self._lock:
            if self._keys is None:
                import jwt

                self._keys = jwt.PyJWKClient(
                    self._jwks_url, cache_keys=True, lifespan=300, timeout=10
                )
            return self._keys
