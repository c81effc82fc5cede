"""An in-memory Sessions port for unit tests. It passes the same contract suite as the SQLite
adapter (tests/contract/test_accounts_store.py). Thread-safe; one process only."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from shared.accounts import Session
from shared.domain import now
from shared.errors import NotFound


@dataclass(frozen=True)
class _Code:
    kind: str
    user_id: str
    data: str
    expires_at: datetime


class MemorySessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._codes: dict[str, _Code] = {}

    def put_session(self, session: Session, replaces: str = "") -> None:
        with self._lock:
            self._sessions.pop(replaces, None)
            self._sessions[session.hash] = session

    def find_session(self, hash_: str) -> Session:
        with self._lock:
            session = self._sessions.get(hash_)
        if session is None or session.expires_at <= now():
            raise NotFound("no such session")
        return session

    def delete_session(self, hash_: str) -> None:
        with self._lock:
            self._sessions.pop(hash_, None)

    def add_code(
        self, kind: str, hash_: str, user_id: str, data: str, expires_at: datetime
    ) -> None:
        with self._lock:
            self._codes[hash_] = _Code(kind, user_id, data, expires_at)

    def take_code(self, kind: str, hash_: str) -> tuple[str, str]:
        with self._lock:
            code = self._live(kind, hash_)
            self._codes.pop(hash_, None)
        if code is None:
            raise NotFound(f"this {kind} code is unknown, used or expired")
        return code.user_id, code.data

    def find_code(self, kind: str, hash_: str) -> tuple[str, str]:
        with self._lock:
            code = self._live(kind, hash_)
        if code is None:
            raise NotFound(f"this {kind} code is unknown, used or expired")
        return code.user_id, code.data

    def swap_code(
        self,
        kind: str,
        hash_: str,
        expected: str | None,
        user_id: str,
        data: str,
        expires_at: datetime,
    ) -> bool:
        with self._lock:
            current = self._codes.get(hash_)
            live = current is not None and current.expires_at > now()
            if live and current is not None and current.kind != kind:
                return False
            if (current.data if live and current is not None else None) != expected:
                return False
            self._codes[hash_] = _Code(kind, user_id, data, expires_at)
        return True

    def _live(self, kind: str, hash_: str) -> _Code | None:
        code = self._codes.get(hash_)
        if code is None or code.kind != kind or code.expires_at <= now():
            return None
        return code
