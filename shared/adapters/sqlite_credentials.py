"""The embedded Credentials and Ledger ports, in the same SQLite file as the tasks.

Credentials hold ciphertext only (encryption is the Secrets port's job, in shared/keys.py).
The ledger holds one row per model call: reserved at its worst-case cost before the call,
settled at the real cost after; an unsettled row (a call whose job died) keeps counting at
its worst case, so a crash can never hide spending."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path

from shared.accounts import CredentialInfo, Spend, StoredCredential, budget_refusal, month_key
from shared.adapters.sqlite_db import connect, transaction
from shared.domain import Usage, now
from shared.errors import BudgetExceeded, NotFound

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS credentials (
        user_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        info TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (user_id, provider)
    )""",
    """CREATE TABLE IF NOT EXISTS ledger (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        month TEXT NOT NULL,
        day TEXT NOT NULL,
        reserved REAL NOT NULL,
        settled INTEGER NOT NULL DEFAULT 0,
        usd REAL NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_user ON ledger (user_id, month)",
    "CREATE INDEX IF NOT EXISTS ledger_task ON ledger (task_id)",
)
# what a row costs for budgets: the real cost once settled, the worst case until then
_COST = "coalesce(sum(CASE WHEN settled THEN usd ELSE reserved END), 0)"


class SqliteCredentials:
    """Implements `shared.ports.Credentials` and `shared.ports.Ledger`."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        with transaction(self._conn, self._lock) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    # ------------------------------------------------------------------------ credentials

    def put_credential(self, user_id: str, credential: StoredCredential) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO credentials (user_id, provider, info, ciphertext)"
                " VALUES (?, ?, ?, ?)",
                (
                    user_id,
                    credential.info.provider,
                    credential.info.model_dump_json(),
                    credential.ciphertext,
                ),
            )

    def get_credential(self, user_id: str, provider: str) -> StoredCredential:
        with self._lock:
            row = self._conn.execute(
                "SELECT info, ciphertext FROM credentials WHERE user_id = ? AND provider = ?",
                (user_id, provider),
            ).fetchone()
        if row is None:
            raise NotFound(f"no key stored for provider {provider!r}")
        return StoredCredential(info=CredentialInfo.model_validate_json(row[0]), ciphertext=row[1])

    def list_credentials(self, user_id: str) -> list[CredentialInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT info FROM credentials WHERE user_id = ? ORDER BY provider", (user_id,)
            ).fetchall()
        return [CredentialInfo.model_validate_json(r[0]) for r in rows]

    def delete_credential(self, user_id: str, provider: str) -> None:
        with transaction(self._conn, self._lock) as conn:
            gone = conn.execute(
                "DELETE FROM credentials WHERE user_id = ? AND provider = ?", (user_id, provider)
            ).rowcount
        if not gone:
            raise NotFound(f"no key stored for provider {provider!r}")

    def all_credentials(self) -> list[tuple[str, StoredCredential]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT user_id, info, ciphertext FROM credentials ORDER BY user_id, provider"
            ).fetchall()
        return [
            (
                str(r[0]),
                StoredCredential(info=CredentialInfo.model_validate_json(r[1]), ciphertext=r[2]),
            )
            for r in rows
        ]

    def replace_ciphertext(self, user_id: str, provider: str, old: bytes, new: bytes) -> bool:
        with transaction(self._conn, self._lock) as conn:
            changed = conn.execute(
                "UPDATE credentials SET ciphertext = ?"
                " WHERE user_id = ? AND provider = ? AND ciphertext = ?",
                (new, user_id, provider, old),
            ).rowcount
        return bool(changed)

    # ------------------------------------------------------------------------ ledger

    def reserve(
        self, user_id: str, task_id: str, usd: float, monthly_usd: float, task_usd: float
    ) -> str:
        at = now()
        month = month_key(at)
        rid = "r_" + secrets.token_hex(8)
        with transaction(self._conn, self._lock) as conn:
            spent_month = float(
                conn.execute(
                    f"SELECT {_COST} FROM ledger WHERE user_id = ? AND month = ?", (user_id, month)
                ).fetchone()[0]
            )
            spent_task = float(
                conn.execute(
                    f"SELECT {_COST} FROM ledger WHERE task_id = ?", (task_id,)
                ).fetchone()[0]
            )
            refusal = budget_refusal(usd, spent_task, task_usd, spent_month, monthly_usd, month)
            if refusal:
                raise BudgetExceeded(refusal)
            conn.execute(
                "INSERT INTO ledger (id, user_id, task_id, month, day, reserved)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (rid, user_id, task_id, month, at.strftime("%Y-%m-%d"), usd),
            )
        return rid

    def settle(self, reservation_id: str, usage: Usage) -> None:
        with transaction(self._conn, self._lock) as conn:
            conn.execute(
                "UPDATE ledger SET settled = 1, usd = ?, prompt_tokens = ?, completion_tokens = ?"
                " WHERE id = ?",
                (usage.cost_usd, usage.prompt_tokens, usage.completion_tokens, reservation_id),
            )

    def daily(self, user_id: str, since: datetime) -> dict[str, Spend]:
        day = since.astimezone(UTC).strftime("%Y-%m-%d")
        out: dict[str, Spend] = {}
        with self._lock:
            spend = self._conn.execute(
                f"SELECT day, {_COST}, sum(prompt_tokens), sum(completion_tokens) FROM ledger"
                " WHERE user_id = ? AND day >= ? GROUP BY day",
                (user_id, day),
            ).fetchall()
            tasks = self._conn.execute(
                "SELECT substr(created_at, 1, 10), count(*) FROM tasks"
                " WHERE owner = ? AND created_at >= ? GROUP BY 1",
                (user_id, day),
            ).fetchall()
        for d, usd, prompt, completion in spend:
            out[d] = Spend(
                usd=round(float(usd), 8),
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
            )
        for d, count in tasks:
            out[d] = out.get(d, Spend()).model_copy(update={"tasks": int(count)})
        return dict(sorted(out.items()))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
