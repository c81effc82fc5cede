"""The metadata server's identity endpoint, as a Cloud Run container reaches it
(`GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=A&format=full`
with `Metadata-Flavor: Google`): an RS256 JWT for `audience`, issued by
https://accounts.google.com for the container's service account. Its signing key is generated
at start-up and served as a JWKS at `/oauth2/v3/certs`, standing for Google's keys."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://accounts.google.com"
IDENTITY_PATH = "computeMetadata/v1/instance/service-accounts/default/identity"
CERTS_PATH = "oauth2/v3/certs"
LIFETIME_S = 3600  # what Google's identity tokens live


class Metadata:
    def __init__(self, service_account: str) -> None:
        self.service_account = service_account
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)

    def identity(self, audience: str, full: bool) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": audience,
            "azp": "1" + secrets.token_hex(10),
            "sub": "1" + secrets.token_hex(10),
            "iat": now,
            "exp": now + LIFETIME_S,
        }
        if full:
            claims.update(email=self.service_account, email_verified=True)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    def certs(self) -> dict[str, object]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self._kid, "alg": "RS256", "use": "sig"}]}
