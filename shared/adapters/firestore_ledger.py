"""The Ledger port on Firestore: model spending as append-only chains (firestore_claims.Chain),
so that racing reservations never pass a budget, on the emulator as on the real service.

Layout (amounts in nano-dollars, integers: sums never drift):
    spend/user:{user_id}:{YYYY-MM}/entries/{seq}  the user's month: each entry holds the total
                                                  after it; reserve, settle and release entries
    spend/task:{task_id}/entries/{seq}            the same for one task's budget
    reservations/{rid}                            who reserved what (ReservationDoc)
    settlements/{rid}                             the claim that settles a reservation once

reserve appends the worst case to the task's chain, then to the month's, each append checked
against its budget on the total it builds on; a month refusal appends a release to the task's
chain again. settle appends (real cost - worst case) to both. A step that dies halfway leaves a
reservation counted at its worst case — a crash can never hide spending, only overstate it.

The usage report reads the month chains since `since`, and counts the user's tasks per day with
one query on tasks (owner ==, created_at >=), which the tasks_by_owner index serves; no
collection-group query anywhere."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from shared.accounts import Spend, budget_refusal, month_key, month_start, next_month
from shared.adapters.firestore_claims import Chain, create, doc_id
from shared.domain import Model, Usage, now
from shared.errors import BudgetExceeded, ConfigError
from shared.gcp_settings import GcpSettings

NANO = 1_000_000_000


class ReservationDoc(Model):
    user_id: str
    task_id: str
    month: str
    day: str
    reserved: int  # nano-dollars


def nano(usd: float) -> int:
    return round(usd * NANO)


class FirestoreLedger:
    """Implements `shared.ports.Ledger`."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.project:
            raise ConfigError("ERRAND_STORE=firestore needs the project: set ERRAND_GCP_PROJECT")
        from google.cloud import firestore

        self._fs = firestore
        self._db: Any = firestore.Client(
            project=settings.project, database=settings.firestore_database
        )

    def reserve(
        self, user_id: str, task_id: str, usd: float, monthly_usd: float, task_usd: float
    ) -> str:
        at = now()
        month, day = month_key(at), at.strftime("%Y-%m-%d")
        rid = "r_" + secrets.token_hex(8)
        amount = nano(usd)
        entry = {"op": "reserve", "rid": rid, "task_id": task_id, "day": day, "amount": amount}

        def task_check(total: int) -> None:
            refusal = budget_refusal(usd, total / NANO, task_usd, 0.0, float("inf"), month)
            if refusal:
                raise BudgetExceeded(refusal)

        def month_check(total: int) -> None:
            refusal = budget_refusal(usd, 0.0, float("inf"), total / NANO, monthly_usd, month)
            if refusal:
                raise BudgetExceeded(refusal)

        self._task_chain(task_id).append(amount, entry, task_check)
        try:
            self._month_chain(user_id, month).append(amount, entry, month_check)
        except BudgetExceeded:
            self._task_chain(task_id).append(-amount, {**entry, "op": "release"})
            raise
        doc = ReservationDoc(
            user_id=user_id, task_id=task_id, month=month, day=day, reserved=amount
        )
        self._db.collection("reservations").document(rid).create(doc.model_dump())
        return rid

    def settle(self, reservation_id: str, usage: Usage) -> None:
        """Settles a reservation once (the settlements claim decides); unknown ids are ignored,
        as on SQLite."""
        snapshot = self._db.collection("reservations").document(reservation_id).get()
        if not snapshot.exists:
            return
        if not create(self._db.collection("settlements").document(reservation_id), {"at": now()}):
            return
        doc = ReservationDoc.model_validate(snapshot.to_dict())
        cost = nano(usage.cost_usd)
        entry = {
            "op": "settle",
            "rid": reservation_id,
            "task_id": doc.task_id,
            "day": doc.day,
            "amount": cost,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        self._task_chain(doc.task_id).append(cost - doc.reserved, entry)
        self._month_chain(doc.user_id, doc.month).append(cost - doc.reserved, entry)

    def daily(self, user_id: str, since: datetime) -> dict[str, Spend]:
        since = since.astimezone(UTC)
        first_day = since.strftime("%Y-%m-%d")
        out: dict[str, Spend] = {}
        month, end = month_start(since), now()
        while month <= end:
            for day, spend in _spend_by_day(self._month_chain(user_id, month_key(month))).items():
                if day >= first_day:
                    out[day] = spend
            month = next_month(month)
        for day, count in self._tasks_by_day(user_id, since).items():
            out[day] = out.get(day, Spend()).model_copy(update={"tasks": count})
        return dict(sorted(out.items()))

    def close(self) -> None:
        self._db.close()

    def _tasks_by_day(self, user_id: str, since: datetime) -> dict[str, int]:
        start = since.replace(hour=0, minute=0, second=0, microsecond=0)
        query = (
            self._db.collection("tasks")
            .where(filter=self._fs.FieldFilter("owner", "==", user_id))
            .where(filter=self._fs.FieldFilter("created_at", ">=", start))
            .order_by("created_at", direction="DESCENDING")  # as the tasks_by_owner index
            .select(["created_at"])
        )
        counts: dict[str, int] = {}
        for snapshot in query.stream():
            day = snapshot.get("created_at").astimezone(UTC).strftime("%Y-%m-%d")
            counts[day] = counts.get(day, 0) + 1
        return counts

    def _task_chain(self, task_id: str) -> Chain:
        return Chain(self._db.collection("spend").document(doc_id("task", task_id)))

    def _month_chain(self, user_id: str, month: str) -> Chain:
        return Chain(self._db.collection("spend").document(doc_id("user", user_id, month)))


def _spend_by_day(chain: Chain) -> dict[str, Spend]:
    """What a month's entries add up to per day: a settled reservation at its real cost, an
    unsettled one at its worst case (releases go to task chains only)."""
    calls: dict[str, dict[str, Any]] = {}
    for entry in chain.entries():
        call = calls.setdefault(str(entry.get("rid")), {})
        call[str(entry.get("op"))] = entry
    out: dict[str, Spend] = {}
    for call in calls.values():
        reserved, settled = call.get("reserve"), call.get("settle")
        if reserved is None:
            continue
        day = str(reserved.get("day"))
        spend = out.get(day, Spend())
        cost = int((settled or reserved).get("amount"))
        prompt = int(settled.get("prompt_tokens")) if settled else 0
        completion = int(settled.get("completion_tokens")) if settled else 0
        out[day] = Spend(
            usd=round(spend.usd + cost / NANO, 8),
            prompt_tokens=spend.prompt_tokens + prompt,
            completion_tokens=spend.completion_tokens + completion,
        )
    return out
