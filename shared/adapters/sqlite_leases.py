"""Stage leases in the embedded store's SQLite file: one row per task (see ports.Leases)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

from shared.adapters.sqlite_db import transaction
from shared.domain import Lease

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS leases (
        task_id TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_at)",
)


def _ts(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


class SqliteLeases:
    """Implements `shared.ports.Leases` on a connection shared with the store. Each method is
    one short IMMEDIATE transaction, so processes sharing the file see one order of changes."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    def get_lease(self, task_id: str) -> Lease | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM leases WHERE task_id = ?", (task_id,)
            ).fetchone()
        return None if row is None else Lease.model_validate_json(row[0])

    def put_lease(self, lease: Lease, expected_holder: str) -> bool:
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute(
                "SELECT holder FROM leases WHERE task_id = ?", (lease.task_id,)
            ).fetchone()
            if (row[0] if row else "") != expected_holder:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO leases (task_id, holder, expires_at, doc)"
                " VALUES (?, ?, ?, ?)",
                (lease.task_id, lease.holder, _ts(lease.expires_at), lease.model_dump_json()),
            )
        return True

    def renew_lease(self, task_id: str, holder: str, expires_at: datetime) -> bool:
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute(
                "SELECT doc FROM leases WHERE task_id = ? AND holder = ?", (task_id, holder)
            ).fetchone()
            if row is None:
                return False
            lease = Lease.model_validate_json(row[0]).model_copy(update={"expires_at": expires_at})
            conn.execute(
                "UPDATE leases SET expires_at = ?, doc = ? WHERE task_id = ?",
                (_ts(expires_at), lease.model_dump_json(), task_id),
            )
        return True

    def drop_lease(self, task_id: str, holder: str) -> bool:
        with transaction(self._conn, self._lock) as conn:
            deleted = conn.execute(
                "DELETE FROM leases WHERE task_id = ? AND holder = ?", (task_id, holder)
            ).rowcount
        return bool(deleted)

    def expired_leases(self, at: datetime, limit: int = 100) -> list[Lease]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc FROM leases WHERE expires_at < ? ORDER BY expires_at LIMIT ?",
                (_ts(at), limit),
            ).fetchall()
        return [Lease.model_validate_json(row[0]) for row in rows]
