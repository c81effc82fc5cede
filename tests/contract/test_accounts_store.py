"""Contract suite for the Users, Tokens and Sessions ports (SqliteAccounts, FirestoreAccounts on
@firestore-emulator/server, each test in a project of its own), and the Store's per-owner
quotas, races included.

The races run on the emulator too: Firestore's claims (one-time codes, quota slots, first
sight of a GitHub user) rest on create() with an exists=false precondition, which the emulator
enforces, not on transaction conflicts, which it does not detect."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
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
from shared.adapters.firestore_accounts import FirestoreAccounts
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.sqlite_accounts import SqliteAccounts
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Status, Task, now
from shared.errors import NotFound, QuotaExceeded
from shared.fakes import MemoryStore
from shared.fakes_accounts import MemorySessions
from shared.gcp_settings import GcpSettings
from shared.ports import Sessions, Store, Tokens, Users

AnyAccounts = SqliteAccounts | FirestoreAccounts


def _conforms(a: SqliteAccounts, b: FirestoreAccounts) -> list[tuple[Users, Tokens, Sessions]]:
    return [(a, a, a), (b, b, b)]  # mypy checks that they implement the ports


def _project(request: pytest.FixtureRequest) -> GcpSettings:
    settings: GcpSettings = request.getfixturevalue("firestore_settings")
    return settings.model_copy(update={"project": f"t-{secrets.token_hex(4)}"})


@pytest.fixture(params=["sqlite", "firestore"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyAccounts]:
    a: AnyAccounts
    if request.param == "firestore":
        a = FirestoreAccounts(_project(request))
    else:
        a = SqliteAccounts(tmp_path / "errand.db")
    yield a
    a.close()


def _factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Makes stores on one database, as separate processes would have (SQLite: a connection
    each; Firestore: a client each)."""
    if kind == "firestore":
        settings = _project(request)
        return lambda: FirestoreStore(settings)
    path = tmp_path / "errand.db"
    SqliteStore(path).close()
    return lambda: SqliteStore(path)


@pytest.fixture(params=["sqlite", "firestore"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    return _factory(request.param, request, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = MemoryStore() if request.param == "memory" else _factory(request.param, request, tmp_path)()
    yield s
    if not isinstance(s, MemoryStore):
        s.close()  # type: ignore[attr-defined]


def test_github_user_is_made_on_first_sight_and_refreshed(accounts: AnyAccounts) -> None:
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


def test_local_user_is_an_admin(accounts: AnyAccounts) -> None:
    user = accounts.ensure_local_user("alice")
    assert user.id == LOCAL_USER_ID and user.admin
    assert accounts.ensure_local_user("bob").login == "alice"


def test_tokens_by_hash_and_revocation(accounts: AnyAccounts) -> None:
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


def test_sessions_expire_rotate_and_codes_work_once(accounts: AnyAccounts) -> None:
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


@pytest.fixture(params=["sqlite", "memory", "firestore"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sessions]:
    if request.param == "memory":
        yield MemorySessions()
        return
    a: AnyAccounts
    if request.param == "firestore":
        a = FirestoreAccounts(_project(request))
    else:
        a = SqliteAccounts(tmp_path / "e.db")
    yield a
    a.close()


def test_sessions_and_codes_of_every_adapter(sessions: Sessions) -> None:
    """The Sessions contract, the memory fake included; then the codes that live on."""
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


@pytest.fixture(params=["sqlite", "firestore"])
def many_accounts(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], AnyAccounts]]:
    """Makes adapters on one database, each with its own connection or client, as separate
    processes would have."""
    made: list[AnyAccounts] = []
    settings = _project(request) if request.param == "firestore" else None

    def make() -> AnyAccounts:
        a = FirestoreAccounts(settings) if settings else SqliteAccounts(tmp_path / "e.db")
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def test_concurrent_swaps_let_exactly_one_win(many_accounts: Callable[[], AnyAccounts]) -> None:
    many_accounts().add_code("device", "d1", "", "0", now() + timedelta(minutes=5))
    contenders = [many_accounts() for _ in range(8)]
    barrier = threading.Barrier(8)
    wins: list[str] = []

    def contend(mine: AnyAccounts, name: str) -> None:
        barrier.wait()
        if mine.swap_code("device", "d1", "0", name, "1", now() + timedelta(minutes=5)):
            wins.append(name)

    threads = [
        threading.Thread(target=contend, args=(c, f"u_{i}")) for i, c in enumerate(contenders)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert many_accounts().find_code("device", "d1") == (wins[0], "1")


def test_one_time_codes_are_handed_out_exactly_once_to_racing_takers(
    accounts: AnyAccounts,
) -> None:
    for n in range(3):
        accounts.add_code("login", f"race{n}", "u_1", "{}", now() + timedelta(minutes=5))
    barrier = threading.Barrier(20)
    taken: list[str] = []

    def take(code: str) -> None:
        barrier.wait()
        try:
            accounts.take_code("login", code)
            taken.append(code)
        except NotFound:
            pass

    threads = [threading.Thread(target=take, args=(f"race{i % 3}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == ["race0", "race1", "race2"]


def test_racing_first_sights_of_a_github_user_make_one_user(accounts: AnyAccounts) -> None:
    barrier = threading.Barrier(10)
    ids: list[str] = []

    def sign_in() -> None:
        barrier.wait()
        ids.append(accounts.ensure_github_user(77, "racer", "", "").id)

    threads = [threading.Thread(target=sign_in) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and accounts.find_user("racer").id == ids[0]


def test_quotas_per_owner(store: Store) -> None:
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


def _race(stores: Callable[[], Store], quota: EffectiveLimits, n: int = 50) -> list[str]:
    """`n` simultaneous creates for one owner, each on its own connection or client; returns
    the ids admitted, checking that every other create got QuotaExceeded."""
    own = [stores() for _ in range(n)]
    barrier = threading.Barrier(n)
    admitted: list[str] = []
    refused: list[QuotaExceeded] = []

    def create(store: Store) -> None:
        barrier.wait()
        try:
            admitted.append(
                store.create_task(Task(repo="/r", prompt="p", model="m", owner="u_a"), quota).id
            )
        except QuotaExceeded as exc:
            refused.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in own]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in own:
        s.close()  # type: ignore[attr-defined]
    assert len(admitted) + len(refused) == n
    print(f"\nquota race on {type(own[0]).__name__}: {len(admitted)} admitted of {n}")
    return admitted


def test_quota_race_admits_exactly_the_quota(stores: Callable[[], Store]) -> None:
    """50 simultaneous creates against a daily limit of 5."""
    quota = EffectiveLimits(tasks_per_day=5, concurrent_tasks=0, monthly_budget_usd=1)
    admitted = _race(stores, quota)
    assert len(admitted) == 5
    store = stores()
    assert sorted(t.id for t in store.list_tasks(owner="u_a")) == sorted(admitted)
    store.close()  # type: ignore[attr-defined]


def test_concurrent_quota_race_admits_exactly_the_limit(stores: Callable[[], Store]) -> None:
    """20 simultaneous creates against 3 concurrent tasks; once one ends, one more fits."""
    quota = EffectiveLimits(tasks_per_day=0, concurrent_tasks=3, monthly_budget_usd=1)
    admitted = _race(stores, quota, n=20)
    assert len(admitted) == 3
    store = stores()
    ended = store.get_task(admitted[0])
    store.update_task(ended.model_copy(update={"status": Status.COMPLETED}))
    assert len(_race(stores, quota, n=10)) == 1
    store.close()  # type: ignore[attr-defined]
