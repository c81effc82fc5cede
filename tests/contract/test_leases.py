"""Contract suite for the Leases port, run against SqliteStore, MemoryStore and FirestoreStore
(on the emulator). Every change is a compare-and-set on the holder.

What the Firestore emulator cannot prove: that two racing transactions see one order (it
detects no conflicts), so the concurrent test is not run on it; the sequential tests check the
compare-and-set logic, the real service supplies the conflict detection."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Lease, Stage, StageRequest, now
from shared.fakes import MemoryStore
from shared.gcp_settings import GcpSettings
from shared.ports import Leases

AnyLeases = SqliteStore | MemoryStore | FirestoreStore


def _conforms(a: SqliteStore, b: MemoryStore, c: FirestoreStore) -> list[Leases]:
    return [a, b, c]  # mypy checks that they implement the port


@pytest.fixture(params=["sqlite", "memory", "firestore"])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyLeases]:
    s: AnyLeases
    if request.param == "firestore":
        settings: GcpSettings = request.getfixturevalue("firestore_settings")
        s = FirestoreStore(settings.model_copy(update={"project": f"t-{secrets.token_hex(4)}"}))
    else:
        s = SqliteStore(tmp_path / "errand.db") if request.param == "sqlite" else MemoryStore()
    yield s
    s.close()


def _lease(task_id: str, holder: str, in_s: float) -> Lease:
    return Lease(
        task_id=task_id,
        request=StageRequest(task_id=task_id, stage=Stage.PLAN),
        holder=holder,
        expires_at=now() + timedelta(seconds=in_s),
    )


def test_put_is_compare_and_set_on_the_holder(leases: AnyLeases) -> None:
    assert leases.get_lease("t_1") is None
    first = _lease("t_1", "h1", 60)
    assert leases.put_lease(first, "") is True
    assert leases.get_lease("t_1") == first
    assert leases.put_lease(_lease("t_1", "h2", 60), "") is False  # someone holds it
    assert leases.put_lease(_lease("t_1", "h2", 60), "h9") is False
    second = _lease("t_1", "h2", 60)
    assert leases.put_lease(second, "h1") is True  # taken over from the known holder
    assert leases.get_lease("t_1") == second


def test_renew_and_drop_only_by_the_holder(leases: AnyLeases) -> None:
    leases.put_lease(_lease("t_1", "h1", 1), "")
    later = now() + timedelta(minutes=5)
    assert leases.renew_lease("t_1", "h2", later) is False
    assert leases.renew_lease("t_1", "h1", later) is True
    renewed = leases.get_lease("t_1")
    assert renewed is not None and renewed.expires_at == later and renewed.holder == "h1"
    assert leases.renew_lease("t_none", "h1", later) is False
    assert leases.drop_lease("t_1", "h2") is False
    assert leases.drop_lease("t_1", "h1") is True
    assert leases.get_lease("t_1") is None
    assert leases.drop_lease("t_1", "h1") is False


def test_expired_leases_longest_expired_first(leases: AnyLeases) -> None:
    for task_id, in_s in (("t_a", -30), ("t_b", 300), ("t_c", -90), ("t_d", -1)):
        leases.put_lease(_lease(task_id, "h", in_s), "")
    assert [lease.task_id for lease in leases.expired_leases(now())] == ["t_c", "t_a", "t_d"]
    assert [lease.task_id for lease in leases.expired_leases(now(), limit=1)] == ["t_c"]


def test_racing_takers_have_one_winner(leases: AnyLeases) -> None:
    if isinstance(leases, FirestoreStore):
        pytest.skip("the Firestore emulator has no transaction conflict detection")
    barrier = threading.Barrier(8)
    won: list[str] = []

    def take(i: int) -> None:
        barrier.wait()
        if leases.put_lease(_lease("t_1", f"h{i}", 60), ""):
            won.append(f"h{i}")

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    lease = leases.get_lease("t_1")
    assert lease is not None and lease.holder == won[0]
