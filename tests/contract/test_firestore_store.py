"""FirestoreStore properties beyond the Store contract, on @firestore-emulator/server: the
layout that keeps a busy task off one hot document, the split of large documents, cursor
paging over commit-time ids, and the on_snapshot feed woken by another process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters import firestore_docs
from shared.adapters.firestore_store import FEED_GROUP, FEED_SHARDS, FirestoreStore
from shared.domain import EventKind, Task
from shared.gcp_settings import GcpSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(firestore_settings: GcpSettings) -> str:
    return f"test-{secrets.token_hex(4)}"


@pytest.fixture
def store(firestore_settings: GcpSettings, project: str) -> Iterator[FirestoreStore]:
    s = FirestoreStore(firestore_settings.model_copy(update={"project": project}))
    yield s
    s.close()


@pytest.fixture
def raw(project: str, firestore_settings: GcpSettings) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


def _task() -> Task:
    return Task(repo="file:///tmp/repo", prompt="fix the bug", model="scripted")


def test_a_busy_task_writes_many_small_documents_not_one_hot_one(
    store: FirestoreStore, raw: Any
) -> None:
    task = store.create_task(_task())
    task_doc = raw.collection("tasks").document(task.id)
    written_at = task_doc.get().update_time
    events = [store.append_event(task.id, EventKind.LOG, {"line": f"{i}"}) for i in range(120)]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert task_doc.get().update_time == written_at  # events never touch the task document
    assert len(list(task_doc.collection("events").stream())) == 120
    shards = list(raw.collection("feed").stream())
    assert 1 < len(shards) <= FEED_SHARDS  # the feed's writes are spread over its shards


def test_cursor_paging_returns_every_event_once_in_order(store: FirestoreStore) -> None:
    appended = [store.append_event("t_p", EventKind.LOG, {"n": i}) for i in range(60)]
    seen, cursor = [], 0
    while page := store.read_events("t_p", after=cursor, limit=7):
        seen.extend(page)
        cursor = page[-1].id
    assert seen == appended


def test_large_task_and_event_are_split_into_parts(store: FirestoreStore, raw: Any) -> None:
    diff = "".join(f"+línea {i} {'x' * 90}\n" for i in range(11_000))  # ~1.1 MB, non-ASCII
    task = store.create_task(_task())
    stored = store.update_task(task.model_copy(update={"diff": diff}))
    doc = raw.collection("tasks").document(task.id)
    parts = list(doc.collection("parts").stream())
    assert doc.get().get("parts") == len(parts) >= 4
    assert all(len(p.get("t").encode()) < 1_000_000 for p in parts)
    assert store.get_task(task.id) == stored
    shrunk = store.update_task(stored.model_copy(update={"diff": "small"}))
    assert store.get_task(task.id) == shrunk
    assert list(doc.collection("parts").stream()) == []  # the old parts are gone
    event = store.append_event(task.id, EventKind.DIFF_READY, {"diff": diff})
    assert store.read_events(task.id) == [event]


def test_ids_are_commit_times(store: FirestoreStore) -> None:
    before = firestore_docs.millis(datetime.now(UTC))
    event = store.append_event("t_t", EventKind.LOG, {})
    assert abs(event.id // firestore_docs.TIE_SPAN - before) < 5_000
    assert event.id < 2**53  # exact as a JSON number in a browser


_APPEND = """
import sys, time
from shared.adapters.firestore_store import FirestoreStore
from shared.domain import EventKind
from shared.gcp_settings import GcpSettings
store = FirestoreStore(GcpSettings(project=sys.argv[1]))
started = time.time()
event = store.append_event("t_other", EventKind.LOG, {"line": "from another process"})
print(started, event.id, flush=True)
store.close()
"""


def test_waiters_are_woken_by_another_process_through_the_listener(
    store: FirestoreStore, project: str
) -> None:
    after = store.latest_event_id()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _APPEND, project], stdout=subprocess.PIPE, text=True, env=env
    )
    assert store.wait_for_events(after, 30) is True
    woke = time.time()
    out, _ = proc.communicate(timeout=30)
    started, event_id = out.split()
    print(f"\nwoken {1000 * (woke - float(started)):.0f} ms after the other process began")
    [event] = store.read_events("t_other", after=after)
    assert event.id == int(event_id)


def test_every_listener_group_wakes_waiters(store: FirestoreStore, raw: Any) -> None:
    """1,024 shards are watched by one query per group of FEED_GROUP: a write to the first
    shard of the first group and to the last shard of the last group each wake a waiter, and
    the newest id is then known without reading the feed."""
    from google.cloud import firestore

    assert FEED_SHARDS % FEED_GROUP == 0 and FEED_SHARDS // FEED_GROUP > 1
    for n in (0, FEED_SHARDS - 1):
        after = store.latest_event_id()
        shard = raw.collection("feed").document(f"{n:04d}")
        shard.set({"at": firestore.SERVER_TIMESTAMP, "tie": 1, "g": n // FEED_GROUP})
        assert store.wait_for_events(after, 10) is True, f"shard {n} woke nobody"
        stored = shard.get()
        assert store.latest_event_id() == firestore_docs.event_id(stored.get("at"), 1)


def test_all_tasks_events_are_read_task_by_task(store: FirestoreStore) -> None:
    one, two = store.create_task(_task()), store.create_task(_task())
    a = store.append_event(one.id, EventKind.LOG, {"n": 1})
    b = store.append_event(two.id, EventKind.LOG, {"n": 2})
    c = store.append_event(one.id, EventKind.LOG, {"n": 3})
    store.append_event("t_without_a_task", EventKind.LOG, {"n": 4})
    assert store.read_events(None) == [a, b, c]
    assert store.read_events(None, after=a.id) == [b, c]
    assert store.read_events(None, after=a.id, limit=1) == [b]
    assert store.read_events(None, after=c.id) == []
