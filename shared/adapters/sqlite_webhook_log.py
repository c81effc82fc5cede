"""The embedded WebhookLog: GitHub deliveries, installations and issue → task links in the same
SQLite file as the tasks, in tables of their own."""

from __future__ import annotations

import threading
from pathlib import Path

from shared.adapters.sqlite_db import connect, transaction
from shared.domain import GitHubInstallation, now

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS github_deliveries (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS github_installations (
        id INTEGER PRIMARY KEY,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS github_links (
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        task_id TEXT NOT NULL,
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        UNIQUE (repository, number, task_id)
    )""",
)


class SqliteWebhookLog:
    """Implements `shared.ports.WebhookLog`. Repository names compare case-insensitively, as
    GitHub's do."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        with transaction(self._conn, self._lock) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def claim_delivery(self, delivery_id: str) -> bool:
        with transaction(self._conn, self._lock) as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO github_deliveries (id, received_at) VALUES (?, ?)",
                (delivery_id, now().isoformat(timespec="microseconds")),
            )
            return cur.rowcount == 1

    def release_delivery(self, delivery_id: str) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute("DELETE FROM github_deliveries WHERE id = ?", (delivery_id,))

    def save_installation(self, installation: GitHubInstallation) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "INSERT INTO github_installations (id, doc) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                (installation.id, installation.model_dump_json()),
            )

    def installation(self, installation_id: int) -> GitHubInstallation | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM github_installations WHERE id = ?", (installation_id,)
            ).fetchone()
        return GitHubInstallation.model_validate_json(row[0]) if row else None

    def link_task(self, repository: str, number: int, task_id: str) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO github_links (repository, number, task_id) VALUES (?, ?, ?)",
                (repository.lower(), number, task_id),
            )

    def linked_tasks(self, repository: str, number: int) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT task_id FROM github_links WHERE repository = ? AND number = ? "
                "ORDER BY seq DESC",
                (repository.lower(), number),
            ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
