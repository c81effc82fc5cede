"""The SQLite Users, Tokens and Sessions adapter, and the Store's per-owner quotas."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from shared.accounts import (
    LOCAL_USER_ID,
    ApiToken,
    EffectiveLimits,
    Limits,
    Session,
    token_hash,
)
from shared.adapters.sqlite_accounts import SqliteAccounts
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Status, Task, now
from shared.errors import NotFound, QuotaExceeded
from shared.fakes import MemoryStore
from shared.fakes_accounts import MemorySessions
from shared.ports import Sessions, Tokens, Users


def _conforms(a: SqliteAccounts) -> tuple[Users, Tokens, Sessions]:
    return a, a, a  # mypy checks that it implements the ports


@pytest.fixture
def accounts(tmp_path: Path) -> SqliteAccounts:
    return SqliteAccounts(tmp_path / "errand.db")


def test_github_user_is_made_on_first_sight_and_refreshed(accounts: SqliteAccounts) -> None:
    first = accounts.ensure_github_user(42, "octocat", "The Octocat", "https://a/1")
    assert first.id.startswith("u_") and not first.admin
    accounts.update_user(
        first.model_copy(update={"admin": True, "limits": Limits(tasks_per_day=9)})
    )
    again = accounts.ensure_github_user(42, "octo-renamed", "Octo", "https://a/2")
    assert again.id == first.id and again.login == "octo-renamed" and again.admin
    assert again.limits.tasks_per_day == 9
    assert accounts.find_user("OCTO-RENAMED").id == first.id
    assert accounts.get_user(first.id).avatar_url == "https://a/2"
    with pytest.raises(NotFound):
        accounts.find_user("octocat")
    other = accounts.ensure_github_user(43, "hubot", "", "")
    assert other.id != first.id


def test_local_user_is_an_admin(accounts: SqliteAccounts) -> None:
    user = accounts.ensure_local_user("alice")
    assert user.id == LOCAL_USER_ID and user.admin
    assert accounts.ensure_local_user("bob").login == "alice"


def test_tokens_by_hash_and_revocation(accounts: SqliteAccounts) -> None:
    token = ApiToken(user_id="u_1", name="ci", hash=token_hash("secret"), last4="cret")
    accounts.add_token(token)
    found = accounts.find_token(token_hash("secret"))
    assert found.id == token.id and found.last_used_at is not None
    assert [t.id for t in accounts.list_tokens("u_1")] == [token.id]
    with pytest.raises(NotFound):
        accounts.revoke_token("u_2", token.id)  # not theirs
    accounts.revoke_token("u_1", token.id)
    with pytest.raises(NotFound):
        accounts.find_token(token_hash("secret"))


def test_sessions_expire_rotate_and_codes_work_once(accounts: SqliteAccounts) -> None:
    old = Session(hash="h1", user_id="u_1", expires_at=now() + timedelta(hours=1))
    accounts.put_session(old)
    assert accounts.find_session("h1").user_id == "u_1"
    accounts.put_session(old.model_copy(update={"hash": "h2"}), replaces="h1")
    with pytest.raises(NotFound):
        accounts.find_session("h1")
    accounts.put_session(Session(hash="h3", user_id="u_1", expires_at=now() - timedelta(1)))
    with pytest.raises(NotFound):
        accounts.find_session("h3")
    accounts.add_code("login", "c1", "u_1", "{}", now() + timedelta(minutes=5))
    assert accounts.take_code("login", "c1") == ("u_1", "{}")
    with pytest.raises(NotFound):
        accounts.take_code("login", "c1")
    accounts.add_code("login", "c2", "u_1", "", now() - timedelta(seconds=1))
    with pytest.raises(NotFound):
        accounts.take_code("login", "c2")


def _memory_conforms(m: MemorySessions) -> Sessions:
    return m


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_sessions_and_codes_of_every_adapter(kind: str, tmp_path: Path) -> None:
    """The Sessions contract, the memory fake included; then the codes that live on."""
    sessions: Sessions = SqliteAccounts(tmp_path / "e.db") if kind == "sqlite" else MemorySessions()
    soon, past = now() + timedelta(minutes=5), now() - timedelta(seconds=1)
    sessions.put_session(Session(hash="h1", user_id="u_1", expires_at=soon))
    sessions.put_session(Session(hash="h2", user_id="u_1", expires_at=soon), replaces="h1")
    assert sessions.find_session("h2").user_id == "u_1"
    for gone in ("h1", "h9"):
        with pytest.raises(NotFound):
            sessions.find_session(gone)
    sessions.delete_session("h2")
    with pytest.raises(NotFound):
        sessions.find_session("h2")
    sessions.add_code("login", "c1", "u_1", "{}", soon)
    with pytest.raises(NotFound):  # another kind does not see it
        sessions.find_code("oauth", "c1")
    assert sessions.find_code("login", "c1") == ("u_1", "{}")  # finding does not use it up
    assert sessions.take_code("login", "c1") == ("u_1", "{}")
    for used in (sessions.find_code, sessions.take_code):
        with pytest.raises(NotFound):
            used("login", "c1")

    # swap: create-if-absent, then compare-and-set on the data
    assert sessions.swap_code("device", "d1", None, "", "pending", soon)
    assert not sessions.swap_code("device", "d1", None, "", "other", soon)
    assert not sessions.swap_code("device", "d1", "stale", "u_2", "approved", soon)
    assert not sessions.swap_code("login", "d1", "pending", "u_2", "approved", soon)
    assert sessions.swap_code("device", "d1", "pending", "u_2", "approved", soon)
    assert sessions.find_code("device", "d1") == ("u_2", "approved")
    # an expired code is no code: nothing to compare with, free to create again
    assert sessions.swap_code("device", "d1", "approved", "u_2", "approved", past)
    with pytest.raises(NotFound):
        sessions.find_code("device", "d1")
    assert not sessions.swap_code("device", "d1", "approved", "u_2", "x", soon)
    assert sessions.swap_code("device", "d1", None, "", "fresh", soon)
    assert sessions.take_code("device", "d1") == ("", "fresh")


def test_concurrent_swaps_let_exactly_one_win(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    SqliteAccounts(path).add_code("device", "d1", "", "0", now() + timedelta(minutes=5))
    wins: list[str] = []

    def contend(name: str) -> None:
        mine = SqliteAccounts(path)  # its own connection, as another process would have
        if mine.swap_code("device", "d1", "0", name, "1", now() + timedelta(minutes=5)):
            wins.append(name)

    threads = [threading.Thread(target=contend, args=(f"u_{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert SqliteAccounts(path).find_code("device", "d1") == (wins[0], "1")


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_quotas_per_owner(kind: str, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "errand.db") if kind == "sqlite" else MemoryStore()
    quota = EffectiveLimits(tasks_per_day=3, concurrent_tasks=2, monthly_budget_usd=1)

    def task(owner: str) -> Task:
        return Task(repo="/r", prompt="p", model="m", owner=owner)

    first = store.create_task(task("u_a"), quota)
    store.create_task(task("u_a"), quota)
    with pytest.raises(QuotaExceeded, match="concurrent") as exc:
        store.create_task(task("u_a"), quota)
    assert exc.value.retry_after_s > 0
    store.create_task(task("u_b"), quota)  # another owner is not affected
    store.update_task(first.model_copy(update={"status": Status.CANCELLED}))
    store.create_task(task("u_a"), quota)
    store.update_task(store.get_task(first.id))  # still counts for the day
    with pytest.raises(QuotaExceeded, match="daily") as exc:
        store.create_task(task("u_a"), quota)
    assert exc.value.resets_at.endswith("T00:00:00+00:00")
    assert [t.owner for t in store.list_tasks(owner="u_b")] == ["u_b"]
    assert len(store.list_tasks()) == 4


def test_quota_race_admits_exactly_the_quota(tmp_path: Path) -> None:
    """50 simultaneous creates, each on its own connection, against a daily limit of 5."""
    path = tmp_path / "errand.db"
    SqliteStore(path).close()
    stores = [SqliteStore(path) for _ in range(50)]
    quota = EffectiveLimits(tasks_per_day=5, concurrent_tasks=0, monthly_budget_usd=1)
    barrier = threading.Barrier(50)
    admitted: list[str] = []
    refused: list[QuotaExceeded] = []

    def create(store: SqliteStore) -> None:
        barrier.wait()
        try:
            admitted.append(
                store.create_task(Task(repo="/r", prompt="p", model="m", owner="u_a"), quota).id
            )
        except QuotaExceeded as exc:
            refused.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert len(admitted) == 5 and len(refused) == 45
    assert len(SqliteStore(path).list_tasks(owner="u_a")) == 5
