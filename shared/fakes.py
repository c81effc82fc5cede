"""In-memory Store, Queue and Blobs for unit tests. They pass the same contract suites as the
real adapters (tests/contract), so code tested against them behaves the same in production.
Thread-safe; one process only."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from urllib.parse import quote

from pydantic import JsonValue

from shared.adapters.change_feed import ChangeFeed
from shared.adapters.fs_blobs import check_key
from shared.domain import Event, EventKind, Lease, StageRequest, Task, now
from shared.errors import Conflict, InvalidInput, NotFound


class MemoryLeases:
    """Implements `shared.ports.Leases` in a dict."""

    def __init__(self) -> None:
        self._lease_lock = threading.Lock()
        self._leases: dict[str, Lease] = {}

    def get_lease(self, task_id: str) -> Lease | None:
        with self._lease_lock:
            lease = self._leases.get(task_id)
            return None if lease is None else lease.model_copy(deep=True)

    def put_lease(self, lease: Lease, expected_holder: str) -> bool:
        with self._lease_lock:
            current = self._leases.get(lease.task_id)
            if (current.holder if current else "") != expected_holder:
                return False
            self._leases[lease.task_id] = lease.model_copy(deep=True)
            return True

    def renew_lease(self, task_id: str, holder: str, expires_at: datetime) -> bool:
        with self._lease_lock:
            current = self._leases.get(task_id)
            if current is None or current.holder != holder:
                return False
            self._leases[task_id] = current.model_copy(update={"expires_at": expires_at})
            return True

    def drop_lease(self, task_id: str, holder: str) -> bool:
        with self._lease_lock:
            current = self._leases.get(task_id)
            if current is None or current.holder != holder:
                return False
            del self._leases[task_id]
            return True

    def expired_leases(self, at: datetime, limit: int = 100) -> list[Lease]:
        with self._lease_lock:
            found = sorted(
                (lease for lease in self._leases.values() if lease.expires_at < at),
                key=lambda lease: lease.expires_at,
            )
            return [lease.model_copy(deep=True) for lease in found[:limit]]


class MemoryStore(MemoryLeases):
    """Implements `shared.ports.Store` and `Leases`, plus `latest_event_id`,
    `wait_for_events_async` and `close` like SqliteStore."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._tasks: dict[str, tuple[int, Task]] = {}  # id -> (insertion order, task)
        self._events: list[Event] = []
        self._feed = ChangeFeed(0)

    def create_task(self, task: Task) -> Task:
        with self._lock:
            if task.id in self._tasks:
                raise Conflict(
                    f"a task with id {task.id!r} already exists; create it with a new id"
                )
            self._tasks[task.id] = (len(self._tasks), task.model_copy(deep=True))
        return task

    def get_task(self, task_id: str) -> Task:
        with self._lock:
            if task_id not in self._tasks:
                raise NotFound(f"no task {task_id!r}; list tasks to see the ids that exist")
            return self._tasks[task_id][1].model_copy(deep=True)

    def list_tasks(self, limit: int = 50) -> list[Task]:
        _check_limit(limit)
        with self._lock:
            entries = sorted(
                self._tasks.values(),
                key=lambda e: (e[1].created_at.astimezone(UTC), e[0]),
                reverse=True,
            )
            return [task.model_copy(deep=True) for _, task in entries[:limit]]

    def update_task(self, task: Task) -> Task:
        stored = task.model_copy(
            update={"version": task.version + 1, "updated_at": now()}, deep=True
        )
        with self._lock:
            if task.id not in self._tasks:
                raise NotFound(f"no task {task.id!r} to update; it may have been deleted")
            order, current = self._tasks[task.id]
            if current.version != task.version:
                raise Conflict(
                    f"task {task.id} changed since it was read (stored version "
                    f"{current.version}, given {task.version}); read it again and retry"
                )
            self._tasks[task.id] = (order, stored)
        return stored.model_copy(deep=True)

    def append_event(self, task_id: str, kind: EventKind, data: dict[str, JsonValue]) -> Event:
        with self._lock:
            event = Event(id=len(self._events) + 1, task_id=task_id, kind=kind, data=data)
            self._events.append(event)
        self._feed.publish(event.id)
        return event.model_copy(deep=True)

    def read_events(self, task_id: str | None, after: int = 0, limit: int = 500) -> list[Event]:
        _check_limit(limit)
        with self._lock:
            found = [
                e for e in self._events[max(after, 0) :] if task_id is None or e.task_id == task_id
            ]
        return [e.model_copy(deep=True) for e in found[:limit]]

    def latest_event_id(self) -> int:
        with self._lock:
            return len(self._events)

    def wait_for_events(self, after: int, timeout_s: float) -> bool:
        return self._feed.wait(after, timeout_s)

    async def wait_for_events_async(self, after: int, timeout_s: float) -> bool:
        return await self._feed.wait_async(after, timeout_s)

    def close(self) -> None:
        self._feed.close()


class MemoryQueue:
    """Implements `shared.ports.Queue` by recording requests; nothing is delivered. Tests take
    what was enqueued with `pop_all()` and run it themselves. Names stay taken forever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()
        self._pending: list[StageRequest] = []
        self.delays: dict[str, float] = {}  # delivery name -> delay_s it was enqueued with

    def enqueue(self, request: StageRequest, delay_s: float = 0.0) -> bool:
        name = request.delivery_name()
        with self._lock:
            if name in self._names:
                return False
            self._names.add(name)
            self._pending.append(request.model_copy(deep=True))
            self.delays[name] = delay_s
        return True

    def pop_all(self) -> list[StageRequest]:
        """The requests enqueued since the previous call, oldest first."""
        with self._lock:
            taken, self._pending = self._pending, []
        return taken


class MemoryBlobs:
    """Implements `shared.ports.Blobs` in a dict; `local_path` is '' (nothing is on disk)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080") -> None:
        self._base_url = base_url.rstrip("/")
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        check_key(key)
        with self._lock:
            self._data[key] = (bytes(data), content_type)

    def get(self, key: str) -> bytes:
        check_key(key)
        with self._lock:
            if key not in self._data:
                raise NotFound(f"no blob {key!r} in memory")
            return self._data[key][0]

    def content_type(self, key: str) -> str:
        with self._lock:
            if key not in self._data:
                raise NotFound(f"no blob {key!r} in memory")
            return self._data[key][1]

    def url(self, key: str) -> str:
        return f"{self._base_url}/blobs/{quote(check_key(key), safe='/')}"

    def local_path(self, key: str) -> str:
        check_key(key)
        return ""


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")
