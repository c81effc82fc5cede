"""The embedded Store: tasks and their event logs in one SQLite file (WAL), shared by every
thread of this process and by other processes on the same machine."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from pydantic import JsonValue

from shared.accounts import EffectiveLimits, day_start, quota_refusal
from shared.adapters.change_feed import ChangeFeed
from shared.adapters.file_wake import FileWake
from shared.adapters.sqlite_db import connect, transaction
from shared.adapters.sqlite_leases import SCHEMA as LEASES_SCHEMA
from shared.adapters.sqlite_leases import SqliteLeases
from shared.domain import TERMINAL, Event, EventKind, Task, TaskFilter, now
from shared.errors import Conflict, InvalidInput, NotFound

_MAX_ROWID = 2**63 - 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY,
        doc TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        owner TEXT NOT NULL DEFAULT 'u_local'
    )""",
    "CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_task ON events (task_id, id)",
    *LEASES_SCHEMA,
)
# after the columns added since a file was made exist (see _migrate)
_INDEXES = ("CREATE INDEX IF NOT EXISTS tasks_owner ON tasks (owner, created_at)",)


def _stamp(moment: datetime) -> str:
    # One fixed format in UTC, so that text order is time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteStore(SqliteLeases):
    """Implements `shared.ports.Store` and `Leases`. Thread-safe (one connection behind a lock)
    and process-safe (SQLite locking). `wait_for_events` and `wait_for_events_async` share one
    poller thread per store that checks `PRAGMA data_version` whenever the WAL file is written
    (inotify) and every `poll_interval_s` while anyone waits; writes made through this instance
    wake waiters at once."""

    def __init__(self, path: Path, *, poll_interval_s: float = 0.025) -> None:
        if not 0 < poll_interval_s <= 0.05:
            raise InvalidInput(f"poll_interval_s must be in (0, 0.05], got {poll_interval_s}")
        self._path = path
        self._lock = threading.Lock()
        self._conn = connect(path)
        with transaction(self._conn, self._lock) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            _migrate(conn)
            for statement in _INDEXES:
                conn.execute(statement)
        super().__init__(self._conn, self._lock)
        self._poll_conn: sqlite3.Connection | None = None  # owned by the poller thread
        self._data_version: int | None = None
        # a commit by any process writes the WAL file: its inotify wake lets the poller look
        # at once instead of on its next interval
        watched = frozenset({f"{path.name}-wal", path.name})
        self._feed = ChangeFeed(
            self.latest_event_id(),
            self._poll,
            poll_interval_s,
            wake=lambda: FileWake.open(path.parent, watched),
        )

    # ------------------------------------------------------------------------ tasks

    def create_task(self, task: Task, quota: EffectiveLimits | None = None) -> Task:
        try:
            with transaction(self._conn, self._lock) as conn:
                if quota is not None:
                    # inside BEGIN IMMEDIATE: no other process can insert between count and
                    # insert, so N racing creates admit exactly the quota
                    _check_quota(conn, task, quota)
                conn.execute(
                    "INSERT INTO tasks (id, doc, version, status, created_at, updated_at, owner)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        task.id,
                        task.model_dump_json(),
                        task.version,
                        task.status.value,
                        _stamp(task.created_at),
                        _stamp(task.updated_at),
                        task.owner,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(
                f"a task with id {task.id!r} already exists; create it with a new id"
            ) from exc
        return task

    def get_task(self, task_id: str) -> Task:
        with self._lock:
            row = self._conn.execute("SELECT doc FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFound(f"no task {task_id!r}; list tasks to see the ids that exist")
        return Task.model_validate_json(row[0])

    def list_tasks(
        self, limit: int = 50, where: TaskFilter | None = None, owner: str | None = None
    ) -> list[Task]:
        _check_limit(limit)
        where = where or TaskFilter()
        clauses: list[str] = []
        params: list[object] = []
        if owner is not None:
            clauses.append("owner = ?")
            params.append(owner)
        if where.status is not None:
            clauses.append("status = ?")
            params.append(where.status.value)
        if where.repo:
            clauses.append("json_extract(doc, '$.repo') = ?")
            params.append(where.repo)
        if where.text:
            # instr, not LIKE: the user's text has no wildcards
            clauses.append("instr(lower(json_extract(doc, '$.prompt')), lower(?)) > 0")
            params.append(where.text)
        with self._lock:
            if where.before:
                row = self._conn.execute(
                    "SELECT created_at, rowid FROM tasks WHERE id = ?", (where.before,)
                ).fetchone()
                if row is None:
                    raise InvalidInput(
                        f"before={where.before!r} names no task; pass the id of the last task"
                        " of the previous page"
                    )
                clauses.append("(created_at, rowid) < (?, ?)")
                params.extend(row)
            sql = "SELECT doc FROM tasks"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            rows = self._conn.execute(
                sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?", (*params, limit)
            ).fetchall()
        return [Task.model_validate_json(row[0]) for row in rows]

    def update_task(self, task: Task) -> Task:
        stored = task.model_copy(update={"version": task.version + 1, "updated_at": now()})
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute("SELECT version FROM tasks WHERE id = ?", (task.id,)).fetchone()
            if row is None:
                raise NotFound(f"no task {task.id!r} to update; it may have been deleted")
            if row[0] != task.version:
                raise Conflict(
                    f"task {task.id} changed since it was read (stored version {row[0]}, "
                    f"given {task.version}); read it again and retry"
                )
            conn.execute(
                "UPDATE tasks SET doc = ?, version = ?, status = ?, updated_at = ? WHERE id = ?",
                (
                    stored.model_dump_json(),
                    stored.version,
                    stored.status.value,
                    _stamp(stored.updated_at),
                    stored.id,
                ),
            )
        return stored

    # ------------------------------------------------------------------------ events

    def append_event(self, task_id: str, kind: EventKind, data: dict[str, JsonValue]) -> Event:
        event = Event(id=0, task_id=task_id, kind=kind, data=data)  # validates before writing
        with transaction(self._conn, self._lock) as conn:
            cursor = conn.execute(
                "INSERT INTO events (task_id, kind, data, created_at) VALUES (?, ?, ?, ?)",
                (task_id, event.kind.value, json.dumps(event.data), _stamp(event.created_at)),
            )
            event_id = cursor.lastrowid
        assert event_id is not None
        self._feed.publish(event_id)
        return event.model_copy(update={"id": event_id})

    def read_events(self, task_id: str | None, after: int = 0, limit: int = 500) -> list[Event]:
        _check_limit(limit)
        if after >= _MAX_ROWID:  # no id can follow it (and SQLite cannot bind a larger int)
            return []
        query = "SELECT id, task_id, kind, data, created_at FROM events WHERE id > ?"
        params: tuple[object, ...] = (max(after, -1),)
        if task_id is not None:
            query += " AND task_id = ?"
            params += (task_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id LIMIT ?", (*params, limit)).fetchall()
        return [
            Event(
                id=row[0],
                task_id=row[1],
                kind=EventKind(row[2]),
                data=json.loads(row[3]),
                created_at=datetime.fromisoformat(row[4]),
            )
            for row in rows
        ]

    def latest_event_id(self) -> int:
        """The newest event id in the file (0 when there is none)."""
        with self._lock:
            return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def wait_for_events(self, after: int, timeout_s: float) -> bool:
        # One cheap query first: the feed's cached id may be older than the file when no one
        # has been waiting (the poller idles then).
        latest = self.latest_event_id()
        self._feed.publish(latest)
        if latest > after:
            return True
        return self._feed.wait(after, timeout_s)

    async def wait_for_events_async(self, after: int, timeout_s: float) -> bool:
        """Like `wait_for_events`, for asyncio code: no thread per waiter and no blocking
        query on the event loop. Another process's write is seen on its WAL file's inotify wake,
        or at worst one poll interval late."""
        return await self._feed.wait_async(after, timeout_s)

    def close(self) -> None:
        """Stops the poller (releasing any waiter) and closes the connections."""
        self._feed.close()
        with self._lock:
            self._conn.close()
            if self._poll_conn is not None:
                self._poll_conn.close()

    def _poll(self) -> int | None:
        # Runs on the poller thread only. data_version changes when any other connection
        # commits, so an unchanged file costs one pragma and no table read.
        if self._poll_conn is None:
            self._poll_conn = connect(self._path)
        version = int(self._poll_conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return None
        self._data_version = version
        row = self._poll_conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return int(row[0])


def _migrate(conn: sqlite3.Connection) -> None:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
    if "owner" not in columns:  # a file from before users existed: its tasks are the local user's
        conn.execute("ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT 'u_local'")


def _check_quota(conn: sqlite3.Connection, task: Task, quota: EffectiveLimits) -> None:
    at = task.created_at.astimezone(UTC)
    created_today = conn.execute(
        "SELECT count(*) FROM tasks WHERE owner = ? AND created_at >= ?",
        (task.owner, _stamp(day_start(at))),
    ).fetchone()[0]
    active = conn.execute(
        "SELECT count(*) FROM tasks WHERE owner = ? AND status NOT IN (?, ?, ?)",
        (task.owner, *(s.value for s in TERMINAL)),
    ).fetchone()[0]
    refusal = quota_refusal(quota, int(created_today), int(active), at)
    if refusal is not None:
        raise refusal


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")
