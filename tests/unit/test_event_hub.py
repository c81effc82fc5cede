"""The event hub reads new events once and hands them to every stream of their task."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Event, EventKind, Task
from shared.event_hub import EventHub, Framed, Item


class CountingStore(SqliteStore):
    reads = 0

    def read_events(self, task_id: str | None, after: int = 0, limit: int = 500) -> list[Event]:
        self.reads += 1
        return super().read_events(task_id, after, limit)


async def take(queue: asyncio.Queue[Item], n: int) -> list[int]:
    got = []
    for _ in range(n):
        item = await asyncio.wait_for(queue.get(), 5)
        assert isinstance(item, Framed) and item.frame.startswith(f"id: {item.event.id}\n".encode())
        got.append(item.event.id)
    return got


def test_one_read_per_change_for_any_number_of_watchers(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "errand.db")
    watched = store.create_task(Task(repo="/r", prompt="p", model="m"))
    other = store.create_task(Task(repo="/r", prompt="p", model="m"))

    async def scenario() -> None:
        hub = EventHub(store, store.wait_for_events_async)
        queues = [await hub.subscribe(watched.id) for _ in range(50)]
        before = store.reads
        store.append_event(other.id, EventKind.LOG, {"message": "not watched"})
        ids = [store.append_event(watched.id, EventKind.LOG, {"n": i}).id for i in range(3)]
        results = await asyncio.gather(*(take(q, 3) for q in queues))
        assert all(r == ids for r in results)
        assert store.reads - before <= 3  # not one per watcher
        assert all(q.empty() for q in queues)  # the other task's event went nowhere
        for q in queues:
            hub.unsubscribe(watched.id, q)
        await hub.close()

    try:
        asyncio.run(scenario())
    finally:
        store.close()


def test_a_stream_that_does_not_keep_up_is_ended_not_fed_forever(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "errand.db")
    task = store.create_task(Task(repo="/r", prompt="p", model="m"))

    async def scenario() -> None:
        hub = EventHub(store, store.wait_for_events_async, max_pending=5)
        stuck = await hub.subscribe(task.id)  # never read until the end
        reader = await hub.subscribe(task.id)
        for i in range(8):  # the others go on
            event = store.append_event(task.id, EventKind.LOG, {"n": i})
            assert await take(reader, 1) == [event.id]
        held = [stuck.get_nowait() for _ in range(stuck.qsize())]
        assert held[-1] is None  # told to end: its client resumes from the store
        assert len(held) <= 6 and all(item is not None for item in held[:-1])
        hub.unsubscribe(task.id, reader)
        await hub.close()

    try:
        asyncio.run(scenario())
    finally:
        store.close()
