"""The CLI's side of the browser sign-in against the real app (over WSGI, no sockets): it
backs off as the server says (RFC 8628 `slow_down`), keeps waiting while the approval is
pending, and stops on denial or expiry with a clear message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from functions.app import create_app
from shared.accounts import token_hash
from shared.cli.login import SLOW_DOWN_S, _poll, _post
from shared.device_login import POLL_INTERVAL_S, DeviceLogin
from shared.errors import Unauthorized
from shared.settings import Settings
from shared.wiring import Deps


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    return Deps(Settings(home=tmp_path / "home", internal_token=SecretStr("i")))


@pytest.fixture
def http(deps: Deps) -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=create_app(deps))
    with httpx.Client(transport=transport, base_url="http://errand.test") as client:
        yield client


def sleeper(after: int, then: Callable[[], None]) -> tuple[list[float], Callable[[float], None]]:
    """A sleep that does not wait (so every poll is too fast for the server) and runs `then`
    before the poll number `after`."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == after:
            then()

    return waits, sleep


def test_the_cli_backs_off_as_told_and_gets_its_token(deps: Deps, http: httpx.Client) -> None:
    started = _post(http, "/api/cli-login", {"host": "laptop", "client": "test"})
    assert started["interval"] == POLL_INTERVAL_S
    service = DeviceLogin(deps.sessions, deps.tokens, deps.users)
    me = deps.users.ensure_local_user("me")
    waits, sleep = sleeper(4, lambda: service.decide(me, started["user_code"], approve=True))
    token, token_id = _poll(http, started["device_code"], started["interval"], sleep)
    # pending, then slow_down twice (polls come at once): five seconds more each time
    assert waits == [5, 5, 5 + SLOW_DOWN_S, 5 + 2 * SLOW_DOWN_S]
    assert token.startswith("errand_")
    assert [t.id for t in deps.tokens.list_tokens(me.id)] == [token_id]
    who = http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert who.status_code == 200 and who.json()["user"]["login"] == "me"


@pytest.mark.parametrize(
    ("approve", "message"), [(False, "denied in the browser"), (None, "expired")]
)
def test_the_cli_stops_on_denial_and_expiry(
    deps: Deps, http: httpx.Client, approve: bool | None, message: str
) -> None:
    started = _post(http, "/api/cli-login", {"host": "laptop"})
    service = DeviceLogin(deps.sessions, deps.tokens, deps.users)
    me = deps.users.ensure_local_user("me")

    def end() -> None:
        if approve is None:  # the ten minutes pass: the login is gone from the store
            deps.sessions.take_code("device", token_hash(started["device_code"]))
        else:
            service.decide(me, started["user_code"], approve=approve)

    _, sleep = sleeper(2, end)
    with pytest.raises(Unauthorized, match=message):
        _poll(http, started["device_code"], started["interval"], sleep)
    assert deps.tokens.list_tokens(me.id) == []
