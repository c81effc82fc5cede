"""Opening the embedded SQLite file the same way everywhere: WAL, a busy timeout, explicit
IMMEDIATE transactions."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.errors import ConfigError

log = logging.getLogger("errand.sqlite")

BUSY_TIMEOUT_S = 30.0
# A commit that crosses SQLite's default of 1,000 WAL pages checkpoints on the spot, fsync
# included: one event write in ~700 then took 150 ms, and every watcher saw that event late.
# Writers only checkpoint past this much (a safety net); the server's Checkpointer does it
# in the background instead.
AUTOCHECKPOINT_PAGES = 20_000
CHECKPOINT_EVERY_S = 1.0


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread as
    long as the caller serialises access, in WAL mode so readers never block the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    # Switching to WAL needs a moment of exclusive access; several processes opening a new
    # file at once can see SQLITE_BUSY here without the busy handler being consulted.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.01)
    if str(mode).lower() != "wal":
        conn.close()
        raise ConfigError(
            f"SQLite could not use write-ahead logging for {path} (journal mode {mode!r}); "
            "put ERRAND_HOME on a local filesystem"
        )
    conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
    return conn


class Checkpointer:
    """Copies the WAL back into the database file every CHECKPOINT_EVERY_S, on a thread of
    its own: PASSIVE, so it never waits for (nor blocks) readers and writers, and their commits
    no longer pay for checkpoints."""

    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._path = path
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="errand-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = connect(self._path)
        try:
            while not self._stop.wait(self._every_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the next round tries again
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: takes the write lock up front, so a read-then-write inside cannot be
    overtaken by another process."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
