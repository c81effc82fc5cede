"""Stage leases on Firestore: one document per task, `leases/{task_id}` (see ports.Leases).
Every change is a transaction that reads the holder first, so racing dispatchers, the sweeper
and the execution itself see one order of changes (the real service detects the conflicts; the
emulator does not, see tests/contract/test_leases.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from shared.domain import Lease

T = TypeVar("T")


class FirestoreLeases:
    """Implements `shared.ports.Leases` for FirestoreStore, which provides `_db` and `_fs`."""

    _db: Any
    _fs: Any

    def get_lease(self, task_id: str) -> Lease | None:
        snapshot = self._lease_ref(task_id).get()
        return Lease.model_validate_json(snapshot.get("doc")) if snapshot.exists else None

    def put_lease(self, lease: Lease, expected_holder: str) -> bool:
        ref = self._lease_ref(lease.task_id)

        def put(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if (snapshot.get("holder") if snapshot.exists else "") != expected_holder:
                return False
            transaction.set(ref, _fields(lease))
            return True

        return self._in_transaction(put)

    def renew_lease(self, task_id: str, holder: str, expires_at: datetime) -> bool:
        ref = self._lease_ref(task_id)

        def renew(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists or snapshot.get("holder") != holder:
                return False
            lease = Lease.model_validate_json(snapshot.get("doc"))
            transaction.set(ref, _fields(lease.model_copy(update={"expires_at": expires_at})))
            return True

        return self._in_transaction(renew)

    def drop_lease(self, task_id: str, holder: str) -> bool:
        ref = self._lease_ref(task_id)

        def drop(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists or snapshot.get("holder") != holder:
                return False
            transaction.delete(ref)
            return True

        return self._in_transaction(drop)

    def expired_leases(self, at: datetime, limit: int = 100) -> list[Lease]:
        query = (
            self._db.collection("leases")
            .where(filter=self._fs.FieldFilter("expires_at", "<", at))
            .order_by("expires_at")
            .limit(limit)
        )
        return [Lease.model_validate_json(s.get("doc")) for s in query.stream()]

    def _in_transaction(self, body: Callable[[Any], T]) -> T:
        """Runs `body(transaction)`; Firestore retries it when the transaction loses a race."""
        result: T = self._fs.transactional(body)(self._db.transaction())
        return result

    def _lease_ref(self, task_id: str) -> Any:
        return self._db.collection("leases").document(task_id)


def _fields(lease: Lease) -> dict[str, Any]:
    return {"holder": lease.holder, "expires_at": lease.expires_at, "doc": lease.model_dump_json()}
