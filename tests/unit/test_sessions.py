"""Browser sessions: signed cookies, rotation of the id, idle and absolute expiry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared.accounts import token_hash
from shared.adapters.sqlite_accounts import SqliteAccounts
from shared.auth import CSRF_COOKIE, SESSION_COOKIE, Authenticator, parse_cookies
from shared.domain import now
from shared.errors import Forbidden, NotFound, Unauthorized

ORIGINS = {"http://127.0.0.1:8080"}


@pytest.fixture
def auth(tmp_path: Path) -> Authenticator:
    store = SqliteAccounts(tmp_path / "errand.db")
    return Authenticator(store, store, store, b"k" * 32, "internal", "me")


def cookies(set_cookies: list[str]) -> dict[str, str]:
    return {c.split("=", 1)[0]: c.split("=", 1)[1].split(";", 1)[0] for c in set_cookies}


def headers(jar: dict[str, str], **extra: str) -> dict[str, str]:
    return {"cookie": "; ".join(f"{k}={v}" for k, v in jar.items()), **extra}


def test_a_session_is_signed_and_rotated(auth: Authenticator) -> None:
    user = auth.users.ensure_local_user("me")
    jar = cookies(auth.start_session(user).set_cookies)
    assert auth.identify("GET", headers(jar), ORIGINS).user.id == user.id
    sid, _, sig = jar[SESSION_COOKIE].rpartition(".")
    for forged in (f"{sid}.{'0' * 64}", f"{sid}x.{sig}", sid):
        with pytest.raises(Unauthorized):
            auth.identify("GET", headers({SESSION_COOKIE: forged}), ORIGINS)
    # twelve hours on, the id is replaced: the old one stops working once the new is sent
    session = auth.sessions.find_session(token_hash(sid))
    old = session.model_copy(update={"rotated_at": now() - timedelta(hours=13)})
    auth.sessions.put_session(old, replaces=session.hash)
    streaming = auth.identify("GET", headers(jar), ORIGINS, rotate=False)
    assert streaming.set_cookies == []  # a stream cannot set cookies: no rotation there
    post = headers(jar, origin="http://127.0.0.1:8080", **{"x-csrf-token": jar[CSRF_COOKIE]})
    rotated = auth.identify("POST", post, ORIGINS)  # the CSRF token sent is still accepted
    fresh = cookies(rotated.set_cookies)
    assert fresh[SESSION_COOKIE] != jar[SESSION_COOKIE] and fresh[CSRF_COOKIE] != jar[CSRF_COOKIE]
    with pytest.raises(Unauthorized):
        auth.identify("GET", headers(jar), ORIGINS)
    assert auth.identify("GET", headers(fresh), ORIGINS).user.id == user.id
    with pytest.raises(Forbidden):  # the old CSRF token goes with the old id
        auth.identify(
            "POST",
            headers(fresh, origin="http://127.0.0.1:8080", **{"x-csrf-token": jar[CSRF_COOKIE]}),
            ORIGINS,
        )


def test_idle_and_expired_sessions_end(auth: Authenticator) -> None:
    user = auth.users.ensure_local_user("me")
    jar = cookies(auth.start_session(user).set_cookies)
    h = token_hash(jar[SESSION_COOKIE].rpartition(".")[0])
    idle = auth.sessions.find_session(h).model_copy(
        update={"rotated_at": now() - timedelta(days=8)}
    )
    auth.sessions.put_session(idle, replaces=h)
    with pytest.raises(Unauthorized, match="without use"):
        auth.identify("GET", headers(jar), ORIGINS)
    with pytest.raises(NotFound):
        auth.sessions.find_session(h)
    jar = cookies(auth.start_session(user).set_cookies)
    h = token_hash(jar[SESSION_COOKIE].rpartition(".")[0])
    over = auth.sessions.find_session(h).model_copy(update={"expires_at": now()})
    auth.sessions.put_session(over, replaces=h)
    with pytest.raises(Unauthorized):
        auth.identify("GET", headers(jar), ORIGINS)


def test_login_code_works_once(auth: Authenticator) -> None:
    user = auth.users.ensure_local_user("me")
    code = auth.login_code(user)
    assert SESSION_COOKIE in parse_cookies(
        "; ".join(c.split(";", 1)[0] for c in auth.redeem_login_code(code).set_cookies)
    )
    with pytest.raises(Unauthorized, match="errand open"):
        auth.redeem_login_code(code)
