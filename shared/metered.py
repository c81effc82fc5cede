"""A ModelClient that never lets a call pass a budget: it reserves the call's worst-case cost
in the Ledger before the call (against the task's budget and its owner's monthly budget) and
settles the real cost after. A call that would pass either budget is not made: BudgetExceeded
names the budget and by how much, and the stage fails the task with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.domain import Usage
from shared.ports import Completion, Ledger, Message, ModelClient, ToolSpec


class Priced(Protocol):
    def worst_case_usd(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> float: ...


class MeteredModel:
    def __init__(
        self,
        inner: ModelClient,
        worst_case: Priced | None,
        ledger: Ledger,
        user_id: str,
        task_id: str,
        monthly_usd: float,
        task_usd: float,
    ) -> None:
        self._inner = inner
        self._worst_case = worst_case
        self._ledger = ledger
        self._user_id = user_id
        self._task_id = task_id
        self._monthly_usd = monthly_usd
        self._task_usd = task_usd

    def __getattr__(self, name: str) -> object:  # `priced`, `model` of the wrapped client
        return getattr(self._inner, name)

    def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        worst = self._worst_case.worst_case_usd(messages, tools) if self._worst_case else 0.0
        reservation = self._ledger.reserve(
            self._user_id, self._task_id, round(worst, 8), self._monthly_usd, self._task_usd
        )
        usage = Usage()
        try:
            completion = self._inner.complete(messages, tools)
            usage = completion.usage
            return completion
        finally:
            # a failed call settles at nothing: providers do not bill refused requests
            self._ledger.settle(reservation, usage)
