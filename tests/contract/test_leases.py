"""Contract suite for the Leases port (SqliteStore, MemoryStore), plus the SQLite race: many
processes taking the same free lease, exactly one wins."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Lease, Stage, StageRequest, now
from shared.fakes import MemoryStore
from shared.ports import Leases

AnyStore = SqliteStore | MemoryStore


def _conforms(a: SqliteStore, b: MemoryStore) -> list[Leases]:
    return [a, b]  # mypy checks that both implement the port


@pytest.fixture(params=["sqlite", "memory"])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyStore]:
    s: AnyStore = (
        SqliteStore(tmp_path / "errand.db") if request.param == "sqlite" else MemoryStore()
    )
    yield s
    s.close()


def _lease(holder: str, task_id: str = "t_1", in_s: float = 30.0, **changes: object) -> Lease:
    request = StageRequest(task_id=task_id, stage=Stage.EXECUTE, holder=holder)
    return Lease(
        task_id=task_id,
        request=request,
        holder=holder,
        expires_at=now() + timedelta(seconds=in_s),
        **changes,
    )


def test_put_is_a_compare_and_set_on_the_holder(leases: AnyStore) -> None:
    assert leases.get_lease("t_1") is None
    assert not leases.put_lease(_lease("a"), expected_holder="someone")
    assert leases.put_lease(_lease("a"), expected_holder="")
    assert not leases.put_lease(_lease("b"), expected_holder="")  # a is there
    assert leases.put_lease(_lease("b", attempts=2), expected_holder="a")
    got = leases.get_lease("t_1")
    assert got is not None and got.holder == "b" and got.attempts == 2
    assert got.request.holder == "b" and got.request.stage == Stage.EXECUTE


def test_renew_and_drop_only_by_the_holder(leases: AnyStore) -> None:
    leases.put_lease(_lease("a", in_s=1), "")
    later = now() + timedelta(seconds=120)
    assert not leases.renew_lease("t_1", "b", later)
    assert leases.renew_lease("t_1", "a", later)
    got = leases.get_lease("t_1")
    assert got is not None and abs((got.expires_at - later).total_seconds()) < 0.01
    assert not leases.drop_lease("t_1", "b")
    assert leases.drop_lease("t_1", "a")
    assert leases.get_lease("t_1") is None
    assert not leases.renew_lease("t_1", "a", later)
    assert not leases.drop_lease("t_1", "a")


def test_expired_leases_oldest_first_and_bounded(leases: AnyStore) -> None:
    leases.put_lease(_lease("a", "t_a", in_s=-5), "")
    leases.put_lease(_lease("b", "t_b", in_s=-50), "")
    leases.put_lease(_lease("c", "t_c", in_s=60), "")
    found = leases.expired_leases(now())
    assert [lease.task_id for lease in found] == ["t_b", "t_a"]
    assert [lease.task_id for lease in leases.expired_leases(now(), limit=1)] == ["t_b"]
    assert leases.expired_leases(now() - timedelta(seconds=100)) == []


def test_leases_of_tasks_are_independent(leases: AnyStore) -> None:
    assert leases.put_lease(_lease("a", "t_a"), "")
    assert leases.put_lease(_lease("b", "t_b"), "")
    assert leases.drop_lease("t_a", "a")
    got = leases.get_lease("t_b")
    assert got is not None and got.holder == "b"


_TAKE = """
import sys
from pathlib import Path
from datetime import timedelta
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Lease, Stage, StageRequest, now
store = SqliteStore(Path(sys.argv[1]))
holder = sys.argv[2]
request = StageRequest(task_id="t_race", stage=Stage.PLAN, holder=holder)
lease = Lease(task_id="t_race", request=request, holder=holder,
              expires_at=now() + timedelta(seconds=30))
print("won" if store.put_lease(lease, "") else "lost")
"""


def test_processes_racing_for_a_free_lease_one_wins(tmp_path: Path) -> None:
    db = tmp_path / "errand.db"
    SqliteStore(db).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKE, str(db), f"h{i}"], stdout=subprocess.PIPE, text=True
        )
        for i in range(8)
    ]
    results = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert sorted(results) == ["lost"] * 7 + ["won"]
