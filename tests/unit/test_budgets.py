"""Budgets never overspend: each model call reserves its worst case in the ledger first and
settles after; a call that would pass the task's or the owner's monthly budget is not made."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from shared.adapters.litellm_model import LitellmModel
from shared.adapters.sqlite_credentials import SqliteCredentials
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import Usage, now
from shared.errors import BudgetExceeded
from shared.metered import MeteredModel
from shared.ports import Completion, Message, ToolSpec
from tests.support.fake_openai import FakeOpenAI


class CountingModel:
    """A ModelClient fake that costs `cost` per call and declares `worst` as its bound."""

    def __init__(self, cost: float, worst: float) -> None:
        self.cost, self.worst, self.calls = cost, worst, 0
        self.lock = threading.Lock()

    def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        with self.lock:
            self.calls += 1
        return Completion(
            message=Message(role="assistant", content="ok"),
            usage=Usage(prompt_tokens=10, completion_tokens=5, cost_usd=self.cost),
        )

    def worst_case_usd(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> float:
        return self.worst


@pytest.fixture
def ledger(tmp_path: Path) -> SqliteCredentials:
    SqliteStore(tmp_path / "errand.db").close()  # the tasks table the usage report reads
    return SqliteCredentials(tmp_path / "errand.db")


def metered(
    ledger: SqliteCredentials, model: CountingModel, task: str, monthly: float, task_usd: float
) -> MeteredModel:
    return MeteredModel(model, model, ledger, "u_a", task, monthly_usd=monthly, task_usd=task_usd)


HELLO = [Message(role="user", content="hi")]


def test_monthly_budget_stops_the_call_that_would_pass_it(ledger: SqliteCredentials) -> None:
    inner = CountingModel(cost=0.1, worst=0.4)
    model = metered(ledger, inner, "t_1", monthly=1.0, task_usd=10)
    for _ in range(6):  # 0.6 settled; the seventh may cost 0.4 more: 1.0 is not passed
        model.complete(HELLO, [])
    model.complete(HELLO, [])
    with pytest.raises(BudgetExceeded, match=r"monthly budget of \$1.00 .* passed by \$0.1000"):
        model.complete(HELLO, [])  # 0.7 + 0.4 > 1.0
    assert inner.calls == 7  # the refused call was never made
    day = ledger.daily("u_a", now())
    spend = next(iter(day.values()))
    assert round(spend.usd, 6) == 0.7 and spend.prompt_tokens == 70


def test_task_budget_is_checked_first_and_named(ledger: SqliteCredentials) -> None:
    inner = CountingModel(cost=0.3, worst=0.5)
    model = metered(ledger, inner, "t_1", monthly=100, task_usd=1.0)
    model.complete(HELLO, [])
    model.complete(HELLO, [])
    with pytest.raises(BudgetExceeded, match=r"task budget of \$1.00 would be passed by \$0.1000"):
        model.complete(HELLO, [])
    other_task = metered(ledger, inner, "t_2", monthly=100, task_usd=1.0)
    other_task.complete(HELLO, [])  # budgets are per task


def test_a_call_that_never_settled_counts_at_its_worst_case(ledger: SqliteCredentials) -> None:
    ledger.reserve("u_a", "t_dead", 0.9, monthly_usd=1.0, task_usd=5)  # its job died
    model = metered(ledger, CountingModel(cost=0.01, worst=0.2), "t_1", monthly=1.0, task_usd=5)
    with pytest.raises(BudgetExceeded, match="monthly"):
        model.complete(HELLO, [])


def test_racing_calls_never_reserve_past_the_budget(
    ledger: SqliteCredentials, tmp_path: Path
) -> None:
    """Ten processes' worth of connections, each making calls as fast as it can."""
    inner = CountingModel(cost=0.3, worst=0.3)
    ledgers = [SqliteCredentials(tmp_path / "errand.db") for _ in range(10)]
    barrier = threading.Barrier(10)
    refused: list[int] = []

    def spend(own: SqliteCredentials, i: int) -> None:
        model = MeteredModel(inner, inner, own, "u_a", f"t_{i}", monthly_usd=3.0, task_usd=10)
        barrier.wait()
        for _ in range(5):
            try:
                model.complete(HELLO, [])
            except BudgetExceeded:
                refused.append(i)

    threads = [threading.Thread(target=spend, args=(led, i)) for i, led in enumerate(ledgers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.calls == 10 and len(refused) == 40  # 10 x 0.3 = 3.0 exactly


def test_litellm_worst_case_bounds_the_real_cost() -> None:
    messages = [Message(role="system", content="be brief " * 200), *HELLO]
    with FakeOpenAI() as llm:
        llm.push(content="fine", prompt_tokens=900, completion_tokens=4000)
        model = LitellmModel(
            "openai/fake",
            api_base=llm.base_url,
            api_key="k",
            price_per_mtok=(1.0, 4.0),
            max_output_tokens=4096,
        )
        worst = model.worst_case_usd(messages, [])
        real = model.complete(messages, []).usage.cost_usd
        assert llm.requests[0]["max_tokens"] == 4096  # the bound is asked of the provider too
    assert real <= worst < real * 3
