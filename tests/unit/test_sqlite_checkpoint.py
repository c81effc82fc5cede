"""Writers leave checkpoints to the server's Checkpointer, which copies the WAL back into the
database file in the background."""

from __future__ import annotations

import time
from pathlib import Path

from shared.adapters import sqlite_db
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import EventKind, Task


def test_writes_do_not_checkpoint_and_the_checkpointer_does(tmp_path: Path) -> None:
    db = tmp_path / "errand.db"
    store = SqliteStore(db)
    task = store.create_task(Task(repo="/r", prompt="p", model="m"))
    for _ in range(1500):  # past SQLite's default autocheckpoint of 1,000 pages
        store.append_event(task.id, EventKind.LOG, {"message": "x" * 2000})
    main_before = db.stat().st_size
    wal = Path(f"{db}-wal").stat().st_size
    assert wal > 4 * 1024 * 1024 and main_before < 1024 * 1024  # still all in the WAL

    checkpointer = sqlite_db.Checkpointer(db, every_s=0.05)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and db.stat().st_size < 4 * 1024 * 1024:
            time.sleep(0.05)
    finally:
        checkpointer.stop()
    assert db.stat().st_size > 4 * 1024 * 1024  # the pages are in the database file now
    assert len(store.read_events(task.id, limit=2000)) == 1500
