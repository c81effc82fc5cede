"""One-time codes on Firestore (login links, OAuth states, device logins, attempt counters), for
FirestoreAccounts: each code is a chain of versions, and every change — a swap, taking it —
creates the next version with an exists=false precondition (firestore_claims). Two changes
built on the same version cannot both be created, so take_code hands a code out exactly once
and swap_code is a true compare-and-set, on the emulator (which detects no transaction
conflicts and ignores update-time preconditions) as on the real service.

Layout: one_time_codes/{hash}/code_versions/{seq}  kind, user_id, data, expires_at, taken, purge_at
A TTL policy deletes versions at purge_at, a day after they expire; readers check expires_at.
(Were the TTL to delete a code's newest version at the very moment two changes raced on it, a
day after it expired, both could succeed: the price of not keeping dead codes forever.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from shared.adapters.firestore_claims import create, seq_id
from shared.domain import Model, now
from shared.errors import Conflict, NotFound

PURGE_AFTER = timedelta(days=1)


class CodeVersion(Model):
    seq: int
    kind: str
    user_id: str
    data: str
    expires_at: datetime
    taken: bool = False
    purge_at: datetime = Field(default_factory=now)

    def live(self) -> bool:
        return not self.taken and self.expires_at > now()


class FirestoreCodes:
    """The code half of `shared.ports.Sessions`; FirestoreAccounts provides `_db`."""

    _db: Any

    def add_code(
        self, kind: str, hash_: str, user_id: str, data: str, expires_at: datetime
    ) -> None:
        head = self._head(hash_)
        if head is not None and head.live():
            raise Conflict(f"this {kind} code exists already; make a new one")
        if not self._put(hash_, head, kind, user_id, data, expires_at):
            raise Conflict(f"this {kind} code was made at the same time elsewhere; make a new one")

    def find_code(self, kind: str, hash_: str) -> tuple[str, str]:
        head = self._head(hash_)
        if head is None or not head.live() or head.kind != kind:
            raise NotFound(f"this {kind} code is unknown, used or expired")
        return head.user_id, head.data

    def take_code(self, kind: str, hash_: str) -> tuple[str, str]:
        """(user_id, data) for the one caller whose 'taken' version is created; NotFound for
        everyone else, ever after, and once it expired."""
        while True:
            head = self._head(hash_)
            if head is None or not head.live() or head.kind != kind:
                raise NotFound(f"this {kind} code is unknown, used or expired")
            if self._put(hash_, head, kind, "", "", head.expires_at, taken=True):
                return head.user_id, head.data
            # another change came first: a swap (take what it made) or a take (NotFound)

    def swap_code(
        self,
        kind: str,
        hash_: str,
        expected: str | None,
        user_id: str,
        data: str,
        expires_at: datetime,
    ) -> bool:
        head = self._head(hash_)
        live = head is not None and head.live()
        if head is not None and live and head.kind != kind:
            return False
        if (head.data if head is not None and live else None) != expected:
            return False
        return self._put(hash_, head, kind, user_id, data, expires_at)

    def _versions(self, hash_: str) -> Any:
        return self._db.collection("one_time_codes").document(hash_).collection("code_versions")

    def _head(self, hash_: str) -> CodeVersion | None:
        query = self._versions(hash_).order_by("seq", direction="DESCENDING").limit(1)
        newest = list(query.stream())
        return CodeVersion.model_validate(newest[0].to_dict()) if newest else None

    def _put(
        self,
        hash_: str,
        head: CodeVersion | None,
        kind: str,
        user_id: str,
        data: str,
        expires_at: datetime,
        taken: bool = False,
    ) -> bool:
        """Creates the version after `head`; False when another change created it first."""
        seq = head.seq + 1 if head is not None else 0
        version = CodeVersion(
            seq=seq,
            kind=kind,
            user_id=user_id,
            data=data,
            expires_at=expires_at,
            taken=taken,
            purge_at=expires_at + PURGE_AFTER,
        )
        return create(self._versions(hash_).document(seq_id(seq)), version.model_dump())
