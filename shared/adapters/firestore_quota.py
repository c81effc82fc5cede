"""Per-owner task quotas on Firestore as exclusive claims (see firestore_claims), so racing
creates admit exactly the quota without relying on transaction conflicts.

Layout, under quotas/{owner}:
    days/{YYYY-MM-DD}:{n}     the n-th task of the owner that UTC day (n < tasks_per_day)
    slot{n}/{generation}      concurrent slot n (n < concurrent_tasks): its newest generation
                              holds it for one task until that task ends

A create finds the slots it needs, then commits them with the task in one batch, the claims
first. The real service applies a batch atomically; the emulator applies writes in order and
stops at the first that fails, so a claim that fails leaves nothing behind, and a later claim
that fails leaves the earlier ones, which `release` deletes again (only documents holding this
task: a claim is never someone else's to take back).

The day count starts from the owner's tasks created that day (those created without a quota,
such as an admin's, count too, as on SQLite), so slots are taken in order and a busy day costs
one read and one create. A concurrent slot is free when its newest generation's task has
ended (or never appeared, a minute on: a create that died between its writes); a new holder
creates the next generation, so freeing a slot needs no write and no delete can race a claim.
Concurrent tasks created without a quota hold no slot, and neither does a failed task retried
after its slot went to another (on SQLite both count at the next create): a concurrent quota
bounds the tasks admitted under it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.accounts import EffectiveLimits, day_start, quota_refusal
from shared.adapters.firestore_claims import doc_id
from shared.domain import TERMINAL, Status, Task, now

ABANDONED_AFTER = timedelta(minutes=1)  # a slot whose task never appeared is free after this


class Claims:
    """The slot documents one create needs, found by `find`, written by the caller's batch."""

    def __init__(self, db: Any, tasks: Any, task: Task, quota: EffectiveLimits) -> None:
        self._db, self._tasks, self._task, self._quota = db, tasks, task, quota
        self._root = db.collection("quotas").document(doc_id(task.owner))
        self._at = task.created_at.astimezone(UTC)
        self._day_n = 0

    def find(self) -> list[tuple[Any, dict[str, Any]]]:
        """The claims to create; raises QuotaExceeded when no slot is left."""
        quota = self._quota
        claims: list[tuple[Any, dict[str, Any]]] = []
        if quota.tasks_per_day:
            self._day_n = max(self._day_n, self._created_today())
            if self._day_n >= quota.tasks_per_day:
                raise _refusal(quota, self._day_n, 0, self._at)
            day = self._at.strftime("%Y-%m-%d")
            claims.append((self._root.collection("days").document(f"{day}:{self._day_n}"), {}))
        if quota.concurrent_tasks:
            slot = self._free_slot()
            if slot is None:
                raise _refusal(quota, 0, quota.concurrent_tasks, self._at)
            claims.append(slot)
        stamp = {"task_id": self._task.id, "at": now()}
        return [(ref, {**fields, **stamp}) for ref, fields in claims]

    def release(self, claims: list[tuple[Any, dict[str, Any]]]) -> None:
        """After a failed commit: deletes those of `claims` that were written for this task (a
        partial batch), and moves past a day slot another create took."""
        for index, (ref, _) in enumerate(claims):
            snapshot = ref.get()
            if not snapshot.exists:
                continue
            if snapshot.get("task_id") == self._task.id:
                ref.delete()
            elif index == 0 and self._quota.tasks_per_day:
                self._day_n += 1

    def _created_today(self) -> int:
        query = (  # ordered as the tasks_by_owner index is, so that index serves it
            self._tasks.where(filter=_field("owner", "==", self._task.owner))
            .where(filter=_field("created_at", ">=", day_start(self._at)))
            .order_by("created_at", direction="DESCENDING")
        )
        return int(query.count().get()[0][0].value)

    def _free_slot(self) -> tuple[Any, dict[str, Any]] | None:
        for n in range(self._quota.concurrent_tasks):
            slot = self._root.collection(f"slot{n}")
            newest = list(slot.order_by("generation", direction="DESCENDING").limit(1).stream())
            if newest and not self._ended(newest[0]):
                continue
            generation = int(newest[0].get("generation")) + 1 if newest else 0
            return slot.document(f"{generation:012d}"), {"generation": generation}
        return None

    def _ended(self, holder: Any) -> bool:
        snapshot = self._tasks.document(str(holder.get("task_id"))).get()
        if not snapshot.exists:
            at: datetime = holder.get("at")
            return now() - at > ABANDONED_AFTER
        return Status(snapshot.get("status")) in TERMINAL


def _refusal(quota: EffectiveLimits, today: int, active: int, at: datetime) -> Exception:
    refusal = quota_refusal(quota, today, active, at)
    assert refusal is not None  # callers pass counts at or past a limit
    return refusal


def _field(field: str, op: str, value: object) -> Any:
    from google.cloud.firestore import FieldFilter as sdk_filter  # the SDK loads lazily

    return sdk_filter(field, op, value)
