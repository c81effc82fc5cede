"""The embedded Queue: Cloud Tasks semantics on one SQLite table.

A delivery is a row named by `StageRequest.delivery_name()`; the name stays taken after the
delivery finishes (a tombstone, as in Cloud Tasks), so a repeated enqueue is a no-op. A worker
claims due rows under a lease; if the process dies mid-delivery the lease expires and any
worker on the same file delivers it again (at least once)."""

from __future__ import annotations

import logging
import os
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from shared.adapters.sqlite_db import connect, transaction
from shared.domain import Model, StageRequest
from shared.errors import ConfigError, ErrandError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

STATES = ("pending", "inflight", "done", "dead")

_SCHEMA = (
    # next_at: when a pending row is due, or when an inflight row's lease expires
    """CREATE TABLE IF NOT EXISTS queue_items (
        name TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        lease TEXT NOT NULL DEFAULT '',
        last_error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS queue_items_due ON queue_items (state, next_at)",
)
_OPEN = "state IN ('pending', 'inflight')"
_PURGE_EVERY_S = 60.0
_Row = tuple[str, bytes, int, str]
_GATED_SCAN = 64  # due rows looked at for one the gate lets through


def _process_start(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner() -> str:
    """Claims name the claiming process (pid and start time), so that a restarted server can
    tell the claims of a dead process from those of a live one sharing the file."""
    pid = os.getpid()
    return f"{pid}-{_process_start(pid)}"


def _owner_alive(lease: str) -> bool:
    owner = lease.split(":", 1)[0]
    pid, _, started = owner.partition("-")
    if not pid.isdigit() or not started:
        return False
    return _process_start(int(pid)) == started


class DeadLetter(Model):
    name: str
    attempts: int
    last_error: str
    body: str


@dataclass(frozen=True)
class _Claim:
    name: str
    body: bytes
    attempts: int
    lease: str
    gated: bool = False


class Gate(Protocol):
    """Which deliveries wait for room on the machine (see local_jobs.NewWorkGate)."""

    def governs(self, body: bytes) -> bool: ...

    def has_room(self, starting: int) -> bool: ...


class LocalQueue:
    """Implements `shared.ports.Queue`. `deliver(body) -> status` is called with the JSON of
    the StageRequest; 2xx acknowledges, anything else (or an exception) is retried after
    min_backoff_s * 2**(attempt-1) (capped at max_backoff_s, ±20% jitter) until
    max_attempts, then the delivery is dead. A claim whose worker vanished is retried after
    lease_s (keep it above the longest delivery: a slow delivery is otherwise started twice).
    Done names are remembered for tombstone_s. Thread- and process-safe.

    `on_dead(body, last_error)` is called once per delivery that becomes dead (by the worker
    that made it so, after the change is committed), so that whatever waits on the request can
    be told it will never arrive. It runs on a worker thread: keep it short. Its exceptions are
    logged; the delivery stays dead either way.

    With a `gate`, a due delivery it governs is passed over while the gate has no room (the
    next due one goes instead); it is not an attempt and loses nothing, it just waits."""

    def __init__(
        self,
        path: Path,
        deliver: Callable[[bytes], int],
        *,
        max_attempts: int = 5,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
        concurrency: int = 4,
        lease_s: float = 900.0,
        poll_interval_s: float = 0.02,
        tombstone_s: float = 86_400.0,
        on_dead: Callable[[bytes, str], None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        if max_attempts < 1 or concurrency < 1 or not 0 < min_backoff_s <= max_backoff_s:
            raise ConfigError(
                "queue settings need max_attempts >= 1, concurrency >= 1 and "
                f"0 < min_backoff_s <= max_backoff_s (got {max_attempts}, {concurrency}, "
                f"{min_backoff_s}, {max_backoff_s})"
            )
        if tombstone_s < 3600:
            raise ConfigError(f"tombstone_s must be at least 3600 (1 hour), got {tombstone_s}")
        self._deliver = deliver
        self._on_dead = on_dead
        self._gate = gate
        self._starting = 0  # gated deliveries under way (changed under self._wake)
        self._max_attempts = max_attempts
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._concurrency = concurrency
        self._lease_s = lease_s
        self._poll_interval_s = poll_interval_s
        self._tombstone_s = tombstone_s
        self._random = random.Random()
        self._lock = threading.Lock()
        self._conn = connect(path)
        with transaction(self._conn, self._lock) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
        self._wake = threading.Condition()
        self._active = 0
        self._stopping = False
        self._scheduler: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def enqueue(self, request: StageRequest, delay_s: float = 0.0) -> bool:
        name = request.delivery_name()
        at = time.time()
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "DELETE FROM queue_items WHERE name = ? AND state = 'done' AND updated_at < ?",
                (name, at - self._tombstone_s),
            )
            inserted = conn.execute(
                "INSERT OR IGNORE INTO queue_items (name, body, state, next_at, created_at,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?, ?)",
                (name, request.model_dump_json().encode(), at + max(delay_s, 0.0), at, at),
            ).rowcount
        with self._wake:
            self._wake.notify_all()
        return inserted == 1

    def start(self) -> None:
        """Starts delivering in background threads; a no-op when already started. Deliveries
        in flight in a process that is gone (a crash) are made due again first, rather than
        when their lease runs out."""
        with self._wake:
            if self._scheduler is not None:
                return
            self._guarded(self._recover)
            self._stopping = False
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="errand-queue")
            self._scheduler = threading.Thread(
                target=self._schedule, name="errand-queue-scheduler", daemon=True
            )
            self._scheduler.start()

    def stop(self) -> None:
        """Stops claiming, waits for deliveries in progress to finish and joins the threads."""
        with self._wake:
            scheduler, pool = self._scheduler, self._pool
            self._stopping = True
            self._wake.notify_all()
        if scheduler is not None:
            scheduler.join()
        if pool is not None:
            pool.shutdown(wait=True)
        with self._wake:
            self._scheduler = self._pool = None

    def drain(self, timeout_s: float) -> bool:
        """Blocks until no delivery is pending or in flight (True) or timeout_s passes (False).
        Counts every delivery in the file, including ones other processes enqueued."""
        if self._scheduler is None:
            raise ErrandError("drain() needs a running worker: call start() first")
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                (open_count,) = self._conn.execute(
                    f"SELECT count(*) FROM queue_items WHERE {_OPEN}"
                ).fetchone()
            remaining = deadline - time.monotonic()
            if open_count == 0 or remaining <= 0:
                return bool(open_count == 0)
            with self._wake:
                self._wake.wait(min(self._poll_interval_s, remaining))

    def stats(self) -> dict[str, int]:
        """Number of deliveries in each state: pending, inflight, done, dead."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT state, count(*) FROM queue_items GROUP BY state"
            ).fetchall()
        counts = dict.fromkeys(STATES, 0)
        counts.update({state: int(n) for state, n in rows})
        return counts

    def dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        """Deliveries that ran out of attempts, newest first, with their last error."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, attempts, last_error, body FROM queue_items WHERE state = 'dead'"
                " ORDER BY updated_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            DeadLetter(name=r[0], attempts=r[1], last_error=r[2], body=r[3].decode()) for r in rows
        ]

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------------ worker

    def _schedule(self) -> None:
        assert self._pool is not None
        next_purge = 0.0
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or self._active < self._concurrency)
                if self._stopping:
                    return
            if time.monotonic() >= next_purge:
                self._guarded(self._purge)
                next_purge = time.monotonic() + _PURGE_EVERY_S
            claim = self._guarded(self._claim)
            if isinstance(claim, _Claim):
                with self._wake:
                    self._active += 1
                self._pool.submit(self._run, claim)
                continue
            # Nothing due: sleep until the next due time, a local enqueue, or the poll interval
            # (which is how rows written by other processes are noticed: every stage hands the
            # next one on that way, so the interval is paid once per stage; an idle poll is one
            # indexed read, ~50 µs).
            wait_s = self._poll_interval_s if claim is None else min(claim, self._poll_interval_s)
            with self._wake:
                if not self._stopping:
                    self._wake.wait(max(wait_s, 0.001))

    def _guarded(self, step: Callable[[], _T]) -> _T | None:
        try:
            return step()
        except sqlite3.Error:
            log.exception("local queue: database step failed; retrying shortly")
            return None

    def _claim(self) -> _Claim | float | None:
        """Claims the next due delivery, or returns seconds until one is due (None: none)."""
        at = time.time()
        with self._lock:
            # A plain read first, so that idle polling never takes the write lock.
            (due,) = self._conn.execute(
                f"SELECT min(next_at) FROM queue_items WHERE {_OPEN}"
            ).fetchone()
        if due is None or due > at:
            return None if due is None else float(due) - at
        lease = f"{_owner()}:{secrets.token_hex(8)}"
        abandoned = ""  # why the claimed row died instead, if it did
        with transaction(self._conn, self._lock) as conn:
            rows = conn.execute(
                f"SELECT name, body, attempts, state FROM queue_items WHERE {_OPEN}"
                " AND next_at <= ? ORDER BY next_at LIMIT ?",
                (at, 1 if self._gate is None else _GATED_SCAN),
            ).fetchall()
            if not rows:
                return 0.0  # another worker took it
            row, gated = self._admissible(rows)
            if row is None:
                return self._poll_interval_s  # all due ones wait for room
            name, body, attempts, state = row
            if state == "inflight" and attempts >= self._max_attempts:
                abandoned = f"the worker delivering attempt {attempts} never reported back"
                conn.execute(
                    "UPDATE queue_items SET state = 'dead', updated_at = ?, last_error = ?"
                    " WHERE name = ?",
                    (at, abandoned, name),
                )
            else:
                conn.execute(
                    "UPDATE queue_items SET state = 'inflight', attempts = attempts + 1,"
                    " next_at = ?, lease = ?, updated_at = ? WHERE name = ?",
                    (at + self._lease_s, lease, at, name),
                )
        if abandoned:
            self._report_dead(name, bytes(body), attempts, abandoned)
            return 0.0
        if gated:
            with self._wake:
                self._starting += 1
        return _Claim(name, bytes(body), attempts + 1, lease, gated)

    def _admissible(self, rows: list[_Row]) -> tuple[_Row | None, bool]:
        """The first row that may go now, and whether the gate governs it."""
        for row in rows:
            if self._gate is None or not self._gate.governs(bytes(row[1])):
                return row, False
            if self._gate.has_room(self._starting):
                return row, True
        return None, False

    def _run(self, claim: _Claim) -> None:
        try:
            error = ""
            try:
                status = self._deliver(claim.body)
                if not 200 <= status < 300:
                    error = f"delivery answered HTTP {status}"
            except Exception as exc:
                log.exception("local queue: delivering %s raised", claim.name)
                error = f"delivery raised {type(exc).__name__}: {exc}"
            self._guarded(lambda: self._finish(claim, error))
        finally:
            with self._wake:
                self._active -= 1
                if claim.gated:
                    self._starting -= 1
                self._wake.notify_all()

    def _finish(self, claim: _Claim, error: str) -> None:
        at = time.time()
        if not error:
            state, next_at = "done", at
        elif claim.attempts >= self._max_attempts:
            state, next_at = "dead", at
        else:
            backoff = self._min_backoff_s * 2 ** (claim.attempts - 1)
            jitter = self._random.uniform(0.8, 1.2)
            state, next_at = "pending", at + min(backoff * jitter, self._max_backoff_s)
        with transaction(self._conn, self._lock) as conn:
            # The lease check makes a late report from a worker whose lease expired harmless.
            updated = conn.execute(
                "UPDATE queue_items SET state = ?, next_at = ?, last_error = ?, updated_at = ?,"
                " lease = '' WHERE name = ? AND lease = ?",
                (state, next_at, error, at, claim.name, claim.lease),
            ).rowcount
        if state == "dead" and updated:
            self._report_dead(claim.name, claim.body, claim.attempts, error)

    def _report_dead(self, name: str, body: bytes, attempts: int, error: str) -> None:
        log.error("local queue: %s is dead after %d attempts: %s", name, attempts, error)
        if self._on_dead is None:
            return
        try:
            self._on_dead(body, error)
        except Exception:
            log.exception("local queue: on_dead for %s raised; the delivery stays dead", name)

    def _recover(self) -> None:
        at = time.time()
        dead: list[tuple[str, bytes, int, str]] = []
        with transaction(self._conn, self._lock) as conn:
            rows = conn.execute(
                "SELECT name, lease, attempts, body FROM queue_items WHERE state = 'inflight'"
            ).fetchall()
            orphans = [(n, a, b) for n, lease, a, b in rows if not _owner_alive(lease)]
            for name, attempts, body in orphans:
                if attempts >= self._max_attempts:  # that was its last attempt
                    error = f"the worker delivering attempt {attempts} never reported back"
                    conn.execute(
                        "UPDATE queue_items SET state = 'dead', updated_at = ?, lease = '',"
                        " last_error = ? WHERE name = ?",
                        (at, error, name),
                    )
                    dead.append((name, bytes(body), attempts, error))
                    continue
                conn.execute(
                    "UPDATE queue_items SET state = 'pending', next_at = ?, lease = '',"
                    " last_error = 'its worker process died' WHERE name = ?",
                    (at, name),
                )
        if orphans:
            log.warning("local queue: %d deliveries of a dead worker are due again", len(orphans))
        for name, body, attempts, error in dead:
            self._report_dead(name, body, attempts, error)

    def _purge(self) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "DELETE FROM queue_items WHERE state = 'done' AND updated_at < ?",
                (time.time() - self._tombstone_s,),
            )
