"""The embedded Users, Tokens and Sessions ports: users, personal API tokens, browser sessions
and one-time codes (login links, OAuth states, device logins, attempt counters) in the same
SQLite file as the tasks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from shared.accounts import LOCAL_USER_ID, ApiToken, Session, User
from shared.adapters.sqlite_db import connect, transaction
from shared.domain import now
from shared.errors import Conflict, NotFound

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        github_id INTEGER UNIQUE,
        login TEXT NOT NULL,
        doc TEXT NOT NULL,
        seen_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS users_login ON users (login COLLATE NOCASE, seen_at)",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (user_id)",
    """CREATE TABLE IF NOT EXISTS sessions (
        hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS one_time_codes (
        hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id TEXT NOT NULL,
        data TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteAccounts:
    """Implements `shared.ports.Users`, `Tokens` and `Sessions`. Thread- and process-safe like
    SqliteStore (one connection behind a lock, BEGIN IMMEDIATE for read-then-write)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        with transaction(self._conn, self._lock) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    # ------------------------------------------------------------------------ users

    def ensure_github_user(self, github_id: int, login: str, name: str, avatar_url: str) -> User:
        """The user with this GitHub id, created on first sight; login, name and avatar are
        refreshed (GitHub users can rename), role and limits kept."""
        if github_id <= 0:
            raise Conflict(f"GitHub user ids are positive; got {github_id}")
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute("SELECT doc FROM users WHERE github_id = ?", (github_id,)).fetchone()
            if row is None:
                user = User(github_id=github_id, login=login, name=name, avatar_url=avatar_url)
                conn.execute(
                    "INSERT INTO users (id, github_id, login, doc, seen_at) VALUES (?, ?, ?, ?, ?)",
                    (user.id, github_id, login, user.model_dump_json(), _stamp(now())),
                )
                return user
            user = User.model_validate_json(row[0]).model_copy(
                update={"login": login, "name": name, "avatar_url": avatar_url}
            )
            conn.execute(
                "UPDATE users SET login = ?, doc = ?, seen_at = ? WHERE id = ?",
                (login, user.model_dump_json(), _stamp(now()), user.id),
            )
            return user

    def ensure_local_user(self, login: str) -> User:
        """The one user of single-user mode: an admin, created on first use."""
        # every request with the local token asks: a plain read, not the write lock (which
        # would queue API reads behind the jobs' writes)
        with self._lock:
            row = self._conn.execute("SELECT doc FROM users WHERE id = ?", (LOCAL_USER_ID,))
            found = row.fetchone()
        if found is not None:
            return User.model_validate_json(found[0])
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute("SELECT doc FROM users WHERE id = ?", (LOCAL_USER_ID,)).fetchone()
            if row is not None:
                return User.model_validate_json(row[0])
            user = User(id=LOCAL_USER_ID, login=login, name=login, admin=True)
            conn.execute(
                "INSERT INTO users (id, github_id, login, doc, seen_at) VALUES (?, NULL, ?, ?, ?)",
                (user.id, login, user.model_dump_json(), _stamp(now())),
            )
            return user

    def get_user(self, user_id: str) -> User:
        with self._lock:
            row = self._conn.execute("SELECT doc FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFound(f"no user {user_id!r}")
        return User.model_validate_json(row[0])

    def find_user(self, login: str) -> User:
        """By GitHub login, case-insensitively; the most recently seen holder of a reused one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM users WHERE login = ? COLLATE NOCASE ORDER BY seen_at DESC",
                (login,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no user with login {login!r}; users appear after their first sign-in")
        return User.model_validate_json(row[0])

    def update_user(self, user: User) -> User:
        """Stores role and limits (identity fields come from GitHub via ensure_github_user)."""
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute("SELECT doc FROM users WHERE id = ?", (user.id,)).fetchone()
            if row is None:
                raise NotFound(f"no user {user.id!r}")
            stored = User.model_validate_json(row[0]).model_copy(
                update={"admin": user.admin, "limits": user.limits}
            )
            conn.execute(
                "UPDATE users SET doc = ? WHERE id = ?", (stored.model_dump_json(), user.id)
            )
            return stored

    # ------------------------------------------------------------------------ tokens

    def add_token(self, token: ApiToken) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "INSERT INTO api_tokens (id, user_id, hash, doc) VALUES (?, ?, ?, ?)",
                (token.id, token.user_id, token.hash, token.model_dump_json()),
            )

    def find_token(self, hash_: str) -> ApiToken:
        """The token with this hash (expired ones included: the caller decides); records
        when it was last used. Raises NotFound."""
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute("SELECT doc FROM api_tokens WHERE hash = ?", (hash_,)).fetchone()
            if row is None:
                raise NotFound("no such token")
            token = ApiToken.model_validate_json(row[0])
            used = token.last_used_at
            if used is None or (now() - used).total_seconds() > 60:  # one write a minute
                token = token.model_copy(update={"last_used_at": now()})
                conn.execute(
                    "UPDATE api_tokens SET doc = ? WHERE id = ?",
                    (token.model_dump_json(), token.id),
                )
            return token

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc FROM api_tokens WHERE user_id = ? ORDER BY rowid", (user_id,)
            ).fetchall()
        return [ApiToken.model_validate_json(r[0]) for r in rows]

    def revoke_token(self, user_id: str, token_id: str) -> None:
        with transaction(self._conn, self._lock) as conn:
            gone = conn.execute(
                "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id)
            ).rowcount
        if not gone:
            raise NotFound(f"no token {token_id!r}; `errand token list` shows yours")

    # ------------------------------------------------------------------------ sessions

    def put_session(self, session: Session, replaces: str = "") -> None:
        """Stores `session`, deleting the one it `replaces` (rotation) in the same step."""
        with transaction(self._conn, self._lock) as conn:
            if replaces:
                conn.execute("DELETE FROM sessions WHERE hash = ?", (replaces,))
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_stamp(now()),))
            conn.execute(
                "INSERT INTO sessions (hash, user_id, expires_at, doc) VALUES (?, ?, ?, ?)",
                (
                    session.hash,
                    session.user_id,
                    _stamp(session.expires_at),
                    session.model_dump_json(),
                ),
            )

    def find_session(self, hash_: str) -> Session:
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM sessions WHERE hash = ? AND expires_at > ?", (hash_, _stamp(now()))
            ).fetchone()
        if row is None:
            raise NotFound("no such session")
        return Session.model_validate_json(row[0])

    def delete_session(self, hash_: str) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute("DELETE FROM sessions WHERE hash = ?", (hash_,))

    def add_code(
        self, kind: str, hash_: str, user_id: str, data: str, expires_at: datetime
    ) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute("DELETE FROM one_time_codes WHERE expires_at < ?", (_stamp(now()),))
            conn.execute(
                "INSERT INTO one_time_codes (hash, kind, user_id, data, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (hash_, kind, user_id, data, _stamp(expires_at)),
            )

    def take_code(self, kind: str, hash_: str) -> tuple[str, str]:
        """Consumes a one-time code: (user_id, data) the first time, NotFound ever after (and
        once it expired)."""
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute(
                "SELECT user_id, data, expires_at FROM one_time_codes WHERE hash = ? AND kind = ?",
                (hash_, kind),
            ).fetchone()
            conn.execute("DELETE FROM one_time_codes WHERE hash = ?", (hash_,))
        if row is None or row[2] <= _stamp(now()):
            raise NotFound(f"this {kind} code is unknown, used or expired")
        return str(row[0]), str(row[1])

    def find_code(self, kind: str, hash_: str) -> tuple[str, str]:
        with self._lock:
            row = self._conn.execute(
                "SELECT user_id, data FROM one_time_codes"
                " WHERE hash = ? AND kind = ? AND expires_at > ?",
                (hash_, kind, _stamp(now())),
            ).fetchone()
        if row is None:
            raise NotFound(f"this {kind} code is unknown, used or expired")
        return str(row[0]), str(row[1])

    def swap_code(
        self,
        kind: str,
        hash_: str,
        expected: str | None,
        user_id: str,
        data: str,
        expires_at: datetime,
    ) -> bool:
        with transaction(self._conn, self._lock) as conn:
            row = conn.execute(
                "SELECT kind, data, expires_at FROM one_time_codes WHERE hash = ?", (hash_,)
            ).fetchone()
            live = row is not None and row[2] > _stamp(now())
            if (live and row[0] != kind) or (row[1] if live else None) != expected:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO one_time_codes (hash, kind, user_id, data, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (hash_, kind, user_id, data, _stamp(expires_at)),
            )
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()
