"""The tool loop driven by the scripted model (a fake that ships with the package)."""

from __future__ import annotations

import pytest
from pydantic import JsonValue

from jobs.agent import tools
from jobs.agent.loop import AgentLoop, Cancelled, Done, LoopHooks
from shared.adapters.scripted_model import ScriptedCall, ScriptedModel, ScriptedTurn
from shared.domain import Status, Usage
from shared.errors import StageFailed
from shared.ports import Message
from shared.settings import Budgets


def bash_turn(command: str) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedCall(name="bash", arguments={"command": command})])


FINISH = ScriptedTurn(tool_calls=[ScriptedCall(name="finish", arguments={"summary": "ok"})])


class Recorder:
    def __init__(self, status: Status = Status.EXECUTING) -> None:
        self.usages: list[Usage] = []
        self.tools: list[str] = []
        self.status = status

    def hooks(self) -> LoopHooks:
        return LoopHooks(
            on_usage=lambda u, d: self.usages.append(u),
            on_tool=lambda name, args, result: self.tools.append(name),
            status=lambda: self.status,
        )


def make_loop(turns: list[ScriptedTurn], rec: Recorder, **budget: float) -> AgentLoop:
    ran: list[str] = []

    def bash(args: dict[str, JsonValue]) -> str:
        ran.append(str(args["command"]))
        return f"ran {args['command']}"

    def finish(args: dict[str, JsonValue]) -> str:
        raise Done(args["summary"])

    return AgentLoop(
        model=ScriptedModel(turns),
        tools=[tools.BASH, tools.FINISH],
        handlers={"bash": bash, "finish": finish},
        budgets=Budgets(**budget),  # type: ignore[arg-type]
        hooks=rec.hooks(),
    )


def start() -> list[Message]:
    return [Message(role="system", content="s"), Message(role="user", content="u")]


def test_runs_tools_until_finish_and_counts_usage() -> None:
    rec = Recorder()
    loop = make_loop([bash_turn("ls"), bash_turn("pwd"), FINISH], rec)
    messages = start()
    with pytest.raises(Done) as done:
        loop.run(messages)
    assert done.value.result == "ok"
    assert rec.tools == ["bash", "bash"] and loop.steps == 3
    assert [m.content for m in messages if m.role == "tool"] == ["ran ls", "ran pwd"]
    assert loop.usage.prompt_tokens == sum(u.prompt_tokens for u in rec.usages) > 0


def test_three_identical_actions_are_a_loop() -> None:
    loop = make_loop([bash_turn("ls")] * 5, Recorder())
    with pytest.raises(StageFailed) as exc:
        loop.run(start())
    assert exc.value.code == "loop_detected" and loop.steps == 3


def test_step_budget_fails_closed() -> None:
    turns = [bash_turn(f"echo {i}") for i in range(10)]
    loop = make_loop(turns, Recorder(), max_steps=4)
    with pytest.raises(StageFailed) as exc:
        loop.run(start())
    assert exc.value.code == "budget_exceeded" and "4 model steps" in exc.value.message


def test_token_budget_counts_earlier_stages() -> None:
    loop = make_loop([bash_turn("a"), bash_turn("b")], Recorder(), max_tokens=1000)
    loop.spent = Usage(prompt_tokens=990, completion_tokens=5)
    with pytest.raises(StageFailed) as exc:
        loop.run(start())
    assert "tokens" in exc.value.message and loop.steps == 1


def test_malformed_arguments_are_fed_back_then_fail() -> None:
    bad = ScriptedTurn(tool_calls=[ScriptedCall(name="bash", arguments='{"command": ')])
    messages = start()
    loop = make_loop([bad, bad, bad], Recorder())
    with pytest.raises(StageFailed) as exc:
        loop.run(messages)
    assert exc.value.code == "model_malformed_tool_calls"
    assert "not valid JSON" in next(m for m in messages if m.role == "tool").content


def test_unknown_tool_and_recovery() -> None:
    wrong = ScriptedTurn(tool_calls=[ScriptedCall(name="rm_rf", arguments={})])
    messages = start()
    with pytest.raises(Done):
        make_loop([wrong, FINISH], Recorder()).run(messages)
    assert "no tool named 'rm_rf'" in next(m for m in messages if m.role == "tool").content


def test_text_answers_get_a_nudge_then_fail() -> None:
    text = ScriptedTurn(content="I think the fix is easy.")
    messages = start()
    with pytest.raises(StageFailed) as exc:
        make_loop([text, text, text], Recorder()).run(messages)
    assert exc.value.code == "model_no_tool_call"
    assert any(m.role == "user" and "Use one of the tools" in m.content for m in messages)


def test_cancelled_task_stops_before_the_next_call() -> None:
    with pytest.raises(Cancelled):
        make_loop([bash_turn("ls")], Recorder(Status.CANCELLED)).run(start())
