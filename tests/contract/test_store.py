"""Contract suite for the Store port, run against SqliteStore, MemoryStore and FirestoreStore
(on @firestore-emulator/server, each test in a project of its own), plus the SQLite-only
properties: other processes, one poller, hundreds of asyncio waiters.

What the Firestore emulator cannot prove: transaction conflicts (it detects none, so the
concurrent compare-and-set test is not run on it: the sequential stale-version test checks the
compare-and-set logic, the real service supplies the conflict), and the 1 MiB document limit
(it has none: the split into parts is checked by reading the documents back). Firestore reads
all tasks' events task by task, over existing tasks only (test_firestore_store.py)."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import EventKind, Status, Task, TaskFilter, now
from shared.errors import Conflict, InvalidInput, NotFound
from shared.fakes import MemoryStore
from shared.gcp_settings import GcpSettings
from shared.ports import Store

AnyStore = SqliteStore | MemoryStore | FirestoreStore


def _conforms(a: SqliteStore, b: MemoryStore, c: FirestoreStore) -> list[Store]:
    return [a, b, c]  # mypy checks that they implement the port


def _task(**changes: object) -> Task:
    return Task(repo="file:///tmp/repo", prompt="fix the bug", model="scripted", **changes)


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


@pytest.fixture(params=["sqlite", "memory", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyStore]:
    s: AnyStore
    if request.param == "firestore":
        settings: GcpSettings = request.getfixturevalue("firestore_settings")
        project = f"test-{secrets.token_hex(4)}"  # an empty database per test
        s = FirestoreStore(settings.model_copy(update={"project": project}))
    else:
        s = SqliteStore(tmp_path / "errand.db") if request.param == "sqlite" else MemoryStore()
    yield s
    s.close()


def _not_on_the_emulator(store: AnyStore, what: str) -> None:
    if isinstance(store, FirestoreStore):
        pytest.skip(f"the Firestore emulator has no {what}")


# ---------------------------------------------------------------------------- tasks


def test_create_get_and_not_found(store: AnyStore) -> None:
    task = store.create_task(_task())
    assert store.get_task(task.id) == task
    with pytest.raises(NotFound):
        store.get_task("t_missing")
    with pytest.raises(Conflict):
        store.create_task(task)


def test_update_is_compare_and_set(store: AnyStore) -> None:
    task = store.create_task(_task())
    moved = store.update_task(task.model_copy(update={"status": Status.PREPARING}))
    assert moved.version == task.version + 1
    assert moved.updated_at > task.updated_at
    assert store.get_task(task.id) == moved
    with pytest.raises(Conflict):  # stale: still holds the version it read first
        store.update_task(task.model_copy(update={"status": Status.CANCELLED}))
    assert store.get_task(task.id).status is Status.PREPARING
    with pytest.raises(NotFound):
        store.update_task(_task())


def test_concurrent_updates_from_one_version_have_one_winner(store: AnyStore) -> None:
    _not_on_the_emulator(store, "transaction conflict detection")
    task = store.create_task(_task())
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.update_task(task.model_copy(update={"prompt": f"attempt {i}"}))
            results.append("won")
        except Conflict:
            results.append("lost")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert store.get_task(task.id).version == 1


def test_list_tasks_newest_first_with_limit(store: AnyStore) -> None:
    base = now()
    ids = [store.create_task(_task(created_at=base + timedelta(seconds=i))).id for i in range(5)]
    assert [t.id for t in store.list_tasks()] == ids[::-1]
    assert [t.id for t in store.list_tasks(limit=2)] == ids[::-1][:2]
    with pytest.raises(InvalidInput):
        store.list_tasks(limit=0)


def test_list_tasks_filtered_and_paged(store: AnyStore) -> None:
    base = now()
    specs = [
        ("/r/a", "Fix the Parser", Status.COMPLETED),
        ("/r/b", "fix the lexer", Status.FAILED),
        ("/r/a", "add a 100% test", Status.COMPLETED),
        ("/r/a", "FIX docs", Status.QUEUED),
        ("/r/b", "rename", Status.COMPLETED),
    ]
    ids = [
        store.create_task(
            Task(
                repo=repo,
                prompt=prompt,
                model="scripted",
                status=status,
                created_at=base + timedelta(seconds=i),
            )
        ).id
        for i, (repo, prompt, status) in enumerate(specs)
    ]

    def listed(limit: int = 50, **where: object) -> list[str]:
        return [t.id for t in store.list_tasks(limit, TaskFilter.model_validate(where))]

    assert listed(status=Status.COMPLETED) == [ids[4], ids[2], ids[0]]
    assert listed(repo="/r/a") == [ids[3], ids[2], ids[0]]
    assert listed(text="fix") == [ids[3], ids[1], ids[0]]  # case-insensitive substring
    assert listed(text="%") == [ids[2]]  # no wildcards
    assert listed(repo="/r/a", text="fix", status=Status.COMPLETED) == [ids[0]]
    assert listed(2) == [ids[4], ids[3]]
    assert listed(2, before=ids[3]) == [ids[2], ids[1]]
    assert listed(2, before=ids[1]) == [ids[0]]
    assert listed(before=ids[3], repo="/r/a") == [ids[2], ids[0]]
    with pytest.raises(InvalidInput, match="names no task"):
        store.list_tasks(5, TaskFilter(before="t_missing"))


def test_large_document(store: AnyStore) -> None:
    diff = "".join(f"+line {i} {'x' * 90}\n" for i in range(11_000))  # ~1.1 MB
    task = store.create_task(_task())
    stored = store.update_task(task.model_copy(update={"diff": diff}))
    assert store.get_task(task.id).diff == diff == stored.diff
    event = store.append_event(task.id, EventKind.DIFF_READY, {"diff": diff})
    assert store.read_events(task.id)[0] == event


# ---------------------------------------------------------------------------- events


def test_events_are_ordered_filtered_and_paged(store: AnyStore) -> None:
    a = store.append_event("t_a", EventKind.LOG, {"line": "one", "n": [1, 2.5, None, True]})
    b = store.append_event("t_b", EventKind.STATUS, {"status": "preparing"})
    c = store.append_event("t_a", EventKind.LOG, {"line": "two"})
    assert a.id < b.id < c.id
    assert store.read_events("t_a") == [a, c]
    assert store.read_events("t_a", after=a.id) == [c]
    assert store.read_events("t_a", limit=1) == [a]
    assert store.read_events("t_none") == []
    assert store.latest_event_id() == c.id
    if isinstance(store, FirestoreStore):
        return  # it reads all tasks' events task by task: test_firestore_store.py
    assert store.read_events(None) == [a, b, c]
    assert store.read_events(None, after=a.id, limit=1) == [b]


def test_wait_for_events(store: AnyStore) -> None:
    first = store.append_event("t_a", EventKind.LOG, {"line": "one"})
    assert store.wait_for_events(first.id - 1, 0) is True
    started = time.monotonic()
    assert store.wait_for_events(first.id, 0.15) is False
    assert time.monotonic() - started >= 0.14

    timer = threading.Timer(0.1, store.append_event, ("t_a", EventKind.LOG, {"line": "two"}))
    timer.start()
    started = time.monotonic()
    assert store.wait_for_events(first.id, 5) is True
    assert time.monotonic() - started < 1.0
    timer.join()


def test_wait_for_events_async(store: AnyStore) -> None:
    after = store.latest_event_id()

    async def main() -> tuple[bool, bool]:
        timed_out = await store.wait_for_events_async(after, 0.05)
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: store.append_event("t_a", EventKind.LOG, {"line": "x"}))
        woke = await store.wait_for_events_async(after, 5)
        return timed_out, woke

    assert asyncio.run(main()) == (False, True)


def test_close_releases_waiters(store: AnyStore) -> None:
    threading.Timer(0.1, store.close).start()
    started = time.monotonic()
    assert store.wait_for_events(store.latest_event_id(), 10) is False
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------------- SQLite only

_APPEND = """
import sys, time
from pathlib import Path
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import EventKind
store = SqliteStore(Path(sys.argv[1]))
started = time.time()
event = store.append_event("t_other", EventKind.LOG, {"line": "from another process"})
print(started, event.id, flush=True)
store.close()
"""


def test_sees_tasks_and_events_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "errand.db"
    store = SqliteStore(path)
    task = store.create_task(_task())
    code = (
        "import sys; from pathlib import Path; from shared.adapters.sqlite_store import "
        "SqliteStore; from shared.domain import Status\n"
        "s = SqliteStore(Path(sys.argv[1])); t = s.get_task(sys.argv[2])\n"
        "s.update_task(t.model_copy(update={'status': Status.PREPARING})); s.close()"
    )
    _finish(_python(code, str(path), task.id))
    assert store.get_task(task.id).status is Status.PREPARING
    with pytest.raises(Conflict):  # this process still holds version 0
        store.update_task(task.model_copy(update={"status": Status.CANCELLED}))

    after = store.latest_event_id()
    proc = _python(_APPEND, str(path))
    assert store.wait_for_events(after, 30) is True
    _finish(proc)
    [event] = store.read_events(None, after=after)
    assert event.task_id == "t_other"
    store.close()


def test_one_poller_for_many_thread_waiters(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "errand.db")
    after = store.latest_event_id()
    woke: list[bool] = []
    waiters = [
        threading.Thread(target=lambda: woke.append(store.wait_for_events(after, 30)))
        for _ in range(20)
    ]
    before = set(threading.enumerate())
    for t in waiters:
        t.start()
    time.sleep(0.2)
    pollers = [t for t in set(threading.enumerate()) - before if t not in waiters]
    _finish(_python(_APPEND, str(tmp_path / "errand.db")))
    for t in waiters:
        t.join(10)
    assert [t.name for t in pollers] == ["errand-change-feed"]
    assert woke == [True] * 20
    store.close()


def test_300_async_waiters_woken_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "errand.db"
    store = SqliteStore(path)
    after = store.latest_event_id()
    threads_before = set(threading.enumerate())

    async def main() -> tuple[list[float], list[str], str]:
        wakes: list[float] = []

        async def waiter() -> None:
            assert await store.wait_for_events_async(after, 30) is True
            wakes.append(time.time())

        tasks = [asyncio.create_task(waiter()) for _ in range(300)]
        await asyncio.sleep(0.1)  # every waiter is registered
        started = [t.name for t in set(threading.enumerate()) - threads_before]
        proc = _python(_APPEND, str(path))
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return wakes, started, _finish(proc)

    wakes, started, out = asyncio.run(main())
    written_at = float(out.split()[0])
    latencies = sorted(w - written_at for w in wakes)
    print(
        f"\n300 async waiters: wake latency after the other process's write: "
        f"median {statistics.median(latencies) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    assert len(wakes) == 300
    assert started == ["errand-change-feed"]  # the single poller, no thread per waiter
    assert latencies[-1] < 1.0
    store.close()


def test_schema_creation_is_idempotent_and_shared(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "e.db"), SqliteStore(tmp_path / "e.db")
    task = first.create_task(_task())
    assert second.get_task(task.id) == task
    first.close()
    second.close()
