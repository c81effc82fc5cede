"""Contract suite for the Credentials and Ledger ports (SqliteCredentials; FirestoreCredentials
and FirestoreLedger on @firestore-emulator/server, each test in a project of its own), with the
budget race: racing model calls never reserve past a budget.

The Firestore ledger's races run on the emulator: its running totals are chains of entries
created with exists=false preconditions, which the emulator enforces. What the emulator cannot
prove: replace_ciphertext's compare-and-set against a concurrent writer (an update-time
precondition, which the emulator ignores); only its sequential comparison is tested here."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from shared.accounts import CredentialInfo, EffectiveLimits, StoredCredential
from shared.adapters.firestore_credentials import FirestoreCredentials
from shared.adapters.firestore_ledger import FirestoreLedger
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.sqlite_credentials import SqliteCredentials
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Task, Usage, now
from shared.errors import BudgetExceeded, NotFound
from shared.gcp_settings import GcpSettings
from shared.ports import Credentials, Ledger, Store

T = TypeVar("T")


def _conforms(
    a: SqliteCredentials, b: FirestoreCredentials, c: FirestoreLedger
) -> tuple[list[Credentials], list[Ledger]]:
    return [a, b], [a, c]  # mypy checks that they implement the ports


@dataclass
class Backend:
    """Credentials, ledgers and stores on one database, each call a new connection or client
    (as separate processes would have); everything made is closed at the end."""

    make_credentials: Callable[[], Credentials]
    make_ledger: Callable[[], Ledger]
    make_store: Callable[[], Store]
    made: list[object]

    def credentials(self) -> Credentials:
        return self._keep(self.make_credentials())

    def ledger(self) -> Ledger:
        return self._keep(self.make_ledger())

    def store(self) -> Store:
        return self._keep(self.make_store())

    def _keep(self, thing: T) -> T:
        self.made.append(thing)
        return thing


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "firestore":
        base: GcpSettings = request.getfixturevalue("firestore_settings")
        s = base.model_copy(update={"project": f"t-{secrets.token_hex(4)}"})
        b = Backend(
            lambda: FirestoreCredentials(s),
            lambda: FirestoreLedger(s),
            lambda: FirestoreStore(s),
            [],
        )
    else:
        path = tmp_path / "errand.db"
        SqliteStore(path).close()  # the tasks table the usage report reads
        b = Backend(
            lambda: SqliteCredentials(path),
            lambda: SqliteCredentials(path),
            lambda: SqliteStore(path),
            [],
        )
    yield b
    for thing in b.made:
        thing.close()  # type: ignore[attr-defined]


def _stored(provider: str, ciphertext: bytes, last4: str = "1234") -> StoredCredential:
    return StoredCredential(
        info=CredentialInfo(provider=provider, last4=last4, api_base="https://llm.example/v1"),
        ciphertext=ciphertext,
    )


def test_credentials_per_user_and_provider(backend: Backend) -> None:
    creds = backend.credentials()
    creds.put_credential("u_a", _stored("openai", b"\x00ct-a"))
    creds.put_credential("u_a", _stored("anthropic", b"ct-b"))
    creds.put_credential("u_b", _stored("openai", b"ct-c"))
    creds.put_credential("u_a", _stored("openai", b"\x00ct-a2", last4="9999"))  # replaces
    got = creds.get_credential("u_a", "openai")
    assert got.ciphertext == b"\x00ct-a2" and got.info.last4 == "9999"
    assert got.info.api_base == "https://llm.example/v1"
    assert [i.provider for i in creds.list_credentials("u_a")] == ["anthropic", "openai"]
    assert [(u, c.info.provider) for u, c in creds.all_credentials()] == [
        ("u_a", "anthropic"),
        ("u_a", "openai"),
        ("u_b", "openai"),
    ]
    with pytest.raises(NotFound, match="provider 'mistral'"):
        creds.get_credential("u_a", "mistral")
    creds.delete_credential("u_a", "anthropic")
    with pytest.raises(NotFound):
        creds.delete_credential("u_a", "anthropic")
    with pytest.raises(NotFound):
        creds.get_credential("u_b", "anthropic")  # someone else's provider is not yours


def test_replace_ciphertext_is_a_compare_and_set(backend: Backend) -> None:
    creds = backend.credentials()
    creds.put_credential("u_a", _stored("openai", b"old"))
    assert not creds.replace_ciphertext("u_a", "openai", b"other", b"new")
    assert creds.replace_ciphertext("u_a", "openai", b"old", b"new")
    assert not creds.replace_ciphertext("u_a", "openai", b"old", b"newer")
    assert creds.get_credential("u_a", "openai").ciphertext == b"new"
    assert not creds.replace_ciphertext("u_a", "groq", b"old", b"new")


def test_reserve_settle_and_the_usage_report(backend: Backend) -> None:
    ledger = backend.ledger()
    store = backend.store()
    quota = EffectiveLimits(tasks_per_day=0, concurrent_tasks=0, monthly_budget_usd=1)
    store.create_task(Task(repo="/r", prompt="p", model="m", owner="u_a"), quota)
    store.create_task(Task(repo="/r", prompt="p", model="m", owner="u_b"))
    first = ledger.reserve("u_a", "t_1", 0.4, monthly_usd=1.0, task_usd=0.5)
    ledger.settle(first, Usage(prompt_tokens=100, completion_tokens=20, cost_usd=0.1))
    ledger.settle(first, Usage(prompt_tokens=100, completion_tokens=20, cost_usd=0.1))  # once
    with pytest.raises(BudgetExceeded, match=r"task budget of \$0.50 would be passed by \$0.0500"):
        ledger.reserve("u_a", "t_1", 0.45, monthly_usd=1.0, task_usd=0.5)
    ledger.reserve("u_a", "t_2", 0.45, monthly_usd=1.0, task_usd=0.5)  # never settled
    with pytest.raises(BudgetExceeded, match=r"monthly budget of \$1.00 .* passed by \$0.0500"):
        ledger.reserve("u_a", "t_3", 0.5, monthly_usd=1.0, task_usd=5)
    ledger.reserve("u_a", "t_1", 0.4, monthly_usd=1.0, task_usd=0.5)  # the refusals held nothing
    ledger.reserve("u_b", "t_9", 0.9, monthly_usd=1.0, task_usd=5)  # budgets are per user
    ledger.settle("r_unknown", Usage(cost_usd=1.0))  # ignored
    report = ledger.daily("u_a", now() - timedelta(days=1))
    today = report[now().strftime("%Y-%m-%d")]
    assert round(today.usd, 6) == 0.95  # 0.1 settled + 0.45 and 0.4 at their worst case
    assert (today.prompt_tokens, today.completion_tokens, today.tasks) == (100, 20, 1)
    assert ledger.daily("u_a", now() + timedelta(days=1)) == {}


def test_racing_calls_never_reserve_past_the_budget(backend: Backend) -> None:
    """Ten writers (connections or clients) reserving as fast as they can, on ten tasks."""
    ledgers = [backend.ledger() for _ in range(10)]
    barrier = threading.Barrier(10)
    admitted: list[str] = []
    refused: list[int] = []

    def spend(own: Ledger, i: int) -> None:
        barrier.wait()
        for _ in range(5):
            try:
                rid = own.reserve("u_a", f"t_{i}", 0.3, monthly_usd=3.0, task_usd=10)
                own.settle(rid, Usage(cost_usd=0.3))
                admitted.append(rid)
            except BudgetExceeded:
                refused.append(i)

    threads = [threading.Thread(target=spend, args=(led, i)) for i, led in enumerate(ledgers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\nbudget race on {type(ledgers[0]).__name__}: {len(admitted)} calls of 50 admitted")
    assert len(admitted) == 10 and len(refused) == 40  # 10 x 0.3 = 3.0 exactly
    assert round(next(iter(ledgers[0].daily("u_a", now()).values())).usd, 6) == 3.0


def test_racing_calls_of_one_task_never_pass_its_budget(backend: Backend) -> None:
    ledgers = [backend.ledger() for _ in range(8)]
    barrier = threading.Barrier(8)
    admitted: list[str] = []

    def spend(own: Ledger) -> None:
        barrier.wait()
        with contextlib.suppress(BudgetExceeded):
            admitted.append(own.reserve("u_a", "t_1", 0.25, monthly_usd=100, task_usd=1.0))

    threads = [threading.Thread(target=spend, args=(led,)) for led in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 4
