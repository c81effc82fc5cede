"""The CLI's browser sign-in (RFC 8628 device grant): codes work once, expire, are stored
hashed and rate-limited; polls back off; a denial ends the login; the token is handed out
exactly once. Against the SQLite adapter and the memory fake of the Sessions port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared.accounts import User, token_hash
from shared.adapters.sqlite_accounts import SqliteAccounts
from shared.device_login import (
    DEVICE,
    GUESS_LIMIT,
    POLL_INTERVAL_S,
    START_LIMIT,
    USER_CODE,
    USER_CODE_ALPHABET,
    DeviceGrant,
    DeviceLogin,
    DeviceLoginError,
)
from shared.domain import now
from shared.errors import NotFound
from shared.fakes_accounts import MemorySessions
from shared.ratelimit import TooManyAttempts


class Clock:
    def __init__(self) -> None:
        self.at = now()

    def __call__(self) -> datetime:
        return self.at

    def wait(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "memory"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[DeviceLogin, Clock]]:
    accounts = SqliteAccounts(tmp_path / "errand.db")
    sessions = accounts if request.param == "sqlite" else MemorySessions()
    clock = Clock()
    yield DeviceLogin(sessions, accounts, accounts, clock), clock
    accounts.close()


def alice(login: DeviceLogin) -> User:
    return login.users.ensure_github_user(1, "alice", "Alice", "")


def pending(login: DeviceLogin, device_code: str) -> str:
    with pytest.raises(DeviceLoginError) as err:
        login.poll(device_code)
    return err.value.code


def test_approval_hands_out_one_token_once(world: tuple[DeviceLogin, Clock]) -> None:
    login, clock = world
    started = login.start("laptop", "errand-cli/0.1", "10.0.0.1")
    assert started.interval == POLL_INTERVAL_S and started.expires_in == 600
    code = started.user_code
    assert len(code) == 9 and code[4] == "-"
    assert set(code.replace("-", "")) <= set(USER_CODE_ALPHABET)
    assert pending(login, started.device_code) == "authorization_pending"

    user = alice(login)
    seen = login.describe(user, code.lower().replace("-", " "))  # as a person may type it
    assert (seen.host, seen.client, seen.user_code) == ("laptop", "errand-cli/0.1", code)
    login.decide(user, code, approve=True)
    with pytest.raises(NotFound):  # the user code works once
        login.decide(user, code, approve=True)

    clock.wait(POLL_INTERVAL_S)
    minted = login.poll(started.device_code)
    assert minted.login == "alice" and minted.value.startswith("errand_")
    stored = login.tokens.find_token(token_hash(minted.value))
    assert stored.user_id == user.id and stored.name == "errand login on laptop"
    assert [t.id for t in login.tokens.list_tokens(user.id)] == [stored.id]
    clock.wait(POLL_INTERVAL_S)
    assert pending(login, started.device_code) == "expired_token"  # never a second token
    assert len(login.tokens.list_tokens(user.id)) == 1


def test_codes_are_stored_only_as_hashes(world: tuple[DeviceLogin, Clock]) -> None:
    login, _ = world
    started = login.start("laptop", "", "10.0.0.1")
    plain = started.user_code.replace("-", "")
    with pytest.raises(NotFound):
        login.sessions.find_code(DEVICE, started.device_code)
    with pytest.raises(NotFound):
        login.sessions.find_code(USER_CODE, plain)
    _, data = login.sessions.find_code(DEVICE, token_hash(started.device_code))
    assert started.device_code not in data and plain not in data
    _, device_hash = login.sessions.find_code(USER_CODE, token_hash(plain))
    assert device_hash == token_hash(started.device_code)


def test_denial_ends_the_login(world: tuple[DeviceLogin, Clock]) -> None:
    login, clock = world
    started = login.start("build-box", "", "10.0.0.1")
    login.decide(alice(login), started.user_code, approve=False)
    assert pending(login, started.device_code) == "access_denied"
    clock.wait(POLL_INTERVAL_S)
    assert pending(login, started.device_code) == "expired_token"
    assert login.tokens.list_tokens(alice(login).id) == []


def test_polling_too_fast_slows_the_client_down(world: tuple[DeviceLogin, Clock]) -> None:
    login, clock = world
    device_code = login.start("laptop", "", "10.0.0.1").device_code
    assert pending(login, device_code) == "authorization_pending"
    clock.wait(1)
    assert pending(login, device_code) == "slow_down"
    clock.wait(POLL_INTERVAL_S)  # the interval is now ten seconds: five is still too fast
    assert pending(login, device_code) == "slow_down"
    clock.wait(3 * POLL_INTERVAL_S)
    assert pending(login, device_code) == "authorization_pending"
    clock.wait(3 * POLL_INTERVAL_S)  # the new interval stays: fifteen seconds is fine
    assert pending(login, device_code) == "authorization_pending"
    _, data = login.sessions.find_code(DEVICE, token_hash(device_code))
    assert DeviceGrant.model_validate_json(data).interval_s == 3 * POLL_INTERVAL_S


def test_an_expired_login_can_be_neither_approved_nor_polled(
    world: tuple[DeviceLogin, Clock],
) -> None:
    login, _ = world
    started = login.start("laptop", "", "10.0.0.1")
    user = alice(login)
    # ten minutes pass: both records age out in the store
    past = now() - timedelta(seconds=1)
    for kind, key in (
        (DEVICE, token_hash(started.device_code)),
        (USER_CODE, token_hash(started.user_code.replace("-", ""))),
    ):
        user_id, data = login.sessions.find_code(kind, key)
        assert login.sessions.swap_code(kind, key, data, user_id, data, past)
    with pytest.raises(NotFound, match="ten minutes"):
        login.describe(user, started.user_code)
    with pytest.raises(NotFound):
        login.decide(user, started.user_code, approve=True)
    assert pending(login, started.device_code) == "expired_token"
    assert pending(login, "a-device-code-nobody-issued") == "expired_token"


def test_guessing_user_codes_is_cut_off(world: tuple[DeviceLogin, Clock]) -> None:
    login, _ = world
    started = login.start("laptop", "", "10.0.0.1")
    mallory = login.users.ensure_github_user(2, "mallory", "", "")
    for _ in range(GUESS_LIMIT):
        with pytest.raises(NotFound):
            login.describe(mallory, "BBBB-BBBB")
    with pytest.raises(TooManyAttempts) as refused:
        login.describe(mallory, started.user_code)  # even the right code, once cut off
    assert refused.value.retry_after_s > 0 and "wait" in refused.value.message
    with pytest.raises(TooManyAttempts):
        login.decide(mallory, started.user_code, approve=True)
    # others are not affected, and the login still works
    login.decide(alice(login), started.user_code, approve=True)
    assert login.poll(started.device_code).login == "alice"


def test_starts_are_limited_per_address(world: tuple[DeviceLogin, Clock]) -> None:
    login, _ = world
    for _ in range(START_LIMIT):
        login.start("laptop", "", "10.0.0.9")
    with pytest.raises(TooManyAttempts):
        login.start("laptop", "", "10.0.0.9")
    assert login.start("laptop", "", "10.0.0.10").user_code


def test_a_host_name_is_required_and_cleaned(world: tuple[DeviceLogin, Clock]) -> None:
    login, _ = world
    with pytest.raises(ValueError, match="host is empty"):
        login.start(" \x1b ", "", "10.0.0.1")
    started = login.start("lap\x1b[31mtop\n", "", "10.0.0.1")
    assert login.describe(alice(login), started.user_code).host == "lap[31mtop"
