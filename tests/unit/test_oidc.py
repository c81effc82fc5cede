"""The dispatch function's OIDC verifier, with tokens signed by a locally generated key whose
public half a local JWKS endpoint serves (as Google's certs endpoint does)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import ConfigError
from shared.oidc import InvalidToken, OidcVerifier, VerifierUnavailable

AUDIENCE = "https://europe-west1-errand.cloudfunctions.net/dispatch"
ISSUER = "https://accounts.google.com"
INVOKER = "errand-tasks@errand.iam.gserviceaccount.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/oauth2/v3/certs"
    server.shutdown()
    server.server_close()


@pytest.fixture
def verifier(jwks_url: str) -> OidcVerifier:
    return OidcVerifier(AUDIENCE, [ISSUER, "accounts.google.com"], INVOKER, jwks_url)


def _token(key: Any = KEY, kid: str = "k1", alg: str = "RS256", **changes: Any) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "email": INVOKER,
        "email_verified": True,
        "sub": "1234567890",
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def test_a_token_cloud_tasks_would_send_is_accepted(verifier: OidcVerifier) -> None:
    claims = verifier.verify(f"Bearer {_token()}")
    assert claims["email"] == INVOKER
    assert verifier.verify(f"bearer {_token(iss='accounts.google.com')}")["aud"] == AUDIENCE


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: _token(aud="https://elsewhere.example/dispatch"), "Audience"),
        (lambda: _token(iss="https://evil.example"), "issuer"),
        (lambda: _token(email="someone@evil.example"), "not the queue's invoker"),
        (lambda: _token(email_verified=False), "not the queue's invoker"),
        (lambda: _token(email=None), "email"),
        (lambda: _token(exp=int(time.time()) - 3600), "expired"),
        (lambda: _token(exp=None), "exp"),
        (lambda: _token(key=OTHER_KEY), "Signature verification failed"),
        (lambda: _token(key=OTHER_KEY, kid="k2"), "not signed by a known key"),
        (lambda: _token(key="shared-secret-of-32-bytes-or-more!", alg="HS256"), "alg"),
        (lambda: "not.a.jwt", "not signed by a known key"),
    ],
)
def test_anything_else_is_refused(verifier: OidcVerifier, token: Any, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        verifier.verify(f"Bearer {token()}")


def test_unsigned_token_is_refused(verifier: OidcVerifier) -> None:
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "email": INVOKER},
        None,
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(InvalidToken):
        verifier.verify(f"Bearer {unsigned}")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer  ", "Basic dXNlcjpwYXNz", "token"])
def test_missing_or_other_schemes_are_refused(verifier: OidcVerifier, header: str) -> None:
    with pytest.raises(InvalidToken, match="Bearer"):
        verifier.verify(header)


def test_unreachable_keys_ask_for_a_retry() -> None:
    verifier = OidcVerifier(AUDIENCE, [ISSUER], INVOKER, "http://127.0.0.1:9/certs")
    with pytest.raises(VerifierUnavailable):
        verifier.verify(f"Bearer {_token()}")


def test_settings_are_required() -> None:
    with pytest.raises(ConfigError, match="ERRAND_TASKS_INVOKER"):
        OidcVerifier(AUDIENCE, [ISSUER], "", "http://x")
