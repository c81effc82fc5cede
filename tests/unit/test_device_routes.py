"""The CLI sign-in routes in the app: per-address limits on starts see through the proxies the
operator declares (ERRAND_PROXY_HOPS), and only through those; answers are never cached."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from functions.app import create_app
from shared.device_login import START_LIMIT
from shared.settings import Settings
from shared.wiring import Deps


def starts(tmp_path: Path, hops: int, forwarded: list[str]) -> list[int]:
    settings = Settings(home=tmp_path / "home", internal_token=SecretStr("i"), proxy_hops=hops)
    deps = Deps(settings)
    client = create_app(deps).test_client()
    return [
        client.post(
            "/api/cli-login", json={"host": "h"}, headers={"X-Forwarded-For": f}
        ).status_code
        for f in forwarded
    ]


@pytest.mark.parametrize("hops", [0, 1])
def test_starts_are_limited_per_caller_address(tmp_path: Path, hops: int) -> None:
    # the caller forges the left part; the proxy appends the address it saw
    same = [f"10.0.0.{i}, 203.0.113.7" for i in range(START_LIMIT + 1)]
    answers = starts(tmp_path, hops, [*same, "198.51.100.1"])
    assert answers[:START_LIMIT] == [200] * START_LIMIT
    assert answers[START_LIMIT] == 429
    # another caller behind the proxy has its own allowance; without a proxy declared the
    # header is ignored and every request comes from the same connection address
    assert answers[-1] == (200 if hops else 429)


def test_answers_with_codes_or_tokens_are_not_cached(tmp_path: Path) -> None:
    deps = Deps(Settings(home=tmp_path / "home", internal_token=SecretStr("i")))
    client = create_app(deps).test_client()
    started = client.post("/api/cli-login", json={"host": "laptop"})
    assert started.headers["Cache-Control"] == "no-store"
    body = started.json
    assert body is not None and body["verification_uri"] == "http://localhost/device"
    assert body["verification_uri_complete"].endswith("/device?code=" + body["user_code"])
    polled = client.post("/api/cli-login/token", json={"device_code": body["device_code"]})
    assert polled.status_code == 400 and polled.json is not None
    assert polled.json["error"]["code"] == "authorization_pending"
