"""The tool loop: ask the model, run the tools it calls, feed results back, until a tool
raises Done or a budget runs out. Budgets fail closed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue

from shared.domain import Status, Usage
from shared.errors import StageFailed
from shared.ports import Message, ModelClient, ToolCall, ToolSpec
from shared.settings import Budgets

MAX_MALFORMED = 3
LOOP_REPEATS = 3


class Done(Exception):  # an expected outcome, not an error
    """Raised by a tool handler to end the loop with a result."""

    def __init__(self, result: JsonValue) -> None:
        super().__init__("done")
        self.result = result


class Cancelled(Exception):
    """The task was cancelled while the loop ran."""


ToolHandler = Callable[[dict[str, JsonValue]], str]


@dataclass
class LoopHooks:
    """How the loop reports and checks in with the task, so it stays free of store details."""

    on_usage: Callable[[Usage, float], None]
    on_tool: Callable[[str, str, str], None]
    status: Callable[[], Status]
    # after each complete step (the model's reply and every tool result): a checkpoint
    on_step: Callable[[list[Message], int, Usage], None] | None = None


@dataclass
class AgentLoop:
    model: ModelClient
    tools: Sequence[ToolSpec]
    handlers: Mapping[str, ToolHandler]
    budgets: Budgets
    hooks: LoopHooks
    # a reply without tool calls may still carry edits (SEARCH/REPLACE blocks or a diff):
    # on_text applies them and returns what to tell the model, or None when there were none
    on_text: Callable[[str], str | None] | None = None
    spent: Usage = field(default_factory=Usage)  # earlier stages': budgets are per task
    usage: Usage = field(default_factory=Usage)
    steps: int = 0

    def run(self, messages: list[Message]) -> JsonValue:
        started = time.monotonic()
        malformed = 0
        recent: list[str] = []
        while True:
            self._check_budgets(started)
            if self.hooks.status() == Status.CANCELLED:
                raise Cancelled()
            completion = self.model.complete(messages, self.tools)
            self.steps += 1
            self.usage = self.usage.plus(completion.usage)
            self.hooks.on_usage(completion.usage, completion.duration_s)
            reply = completion.message
            messages.append(reply)
            if not reply.tool_calls:
                applied = self.on_text(reply.content) if self.on_text and reply.content else None
                if applied is not None:
                    messages.append(Message(role="user", content=applied))
                    malformed = 0
                    self._stepped(messages)
                    continue
                malformed += 1
                if malformed >= MAX_MALFORMED:
                    raise StageFailed(
                        "model_no_tool_call",
                        f"the model answered {malformed} times without calling a tool "
                        f"(last answer: {reply.content[:200]!r}); try a model that supports "
                        "tool calls",
                    )
                messages.append(
                    Message(
                        role="user",
                        content="Use one of the tools: "
                        + ", ".join(t.name for t in self.tools)
                        + ".",
                    )
                )
                continue
            for call in reply.tool_calls:
                result, ok = self._call(call)
                messages.append(
                    Message(role="tool", tool_call_id=call.id, name=call.name, content=result)
                )
                malformed = 0 if ok else malformed + 1
                if not ok:
                    continue  # malformed calls have their own limit below
                signature = f"{call.name}:{call.arguments}"
                recent = [*recent[-(LOOP_REPEATS - 1) :], signature]
                if len(recent) == LOOP_REPEATS and len(set(recent)) == 1:
                    raise StageFailed(
                        "loop_detected",
                        f"the model repeated the same action {LOOP_REPEATS} times in a row "
                        f"({call.name} {call.arguments[:200]}); stopped to save budget",
                    )
            self._stepped(messages)
            if malformed >= MAX_MALFORMED:
                raise StageFailed(
                    "model_malformed_tool_calls",
                    f"the model sent {malformed} malformed tool calls in a row; the last error "
                    f"was: {messages[-1].content[:300]} — try a stronger model",
                )

    def _stepped(self, messages: list[Message]) -> None:
        if self.hooks.on_step is not None:
            self.hooks.on_step(messages, self.steps, self.usage)

    def _call(self, call: ToolCall) -> tuple[str, bool]:
        handler = self.handlers.get(call.name)
        if handler is None:
            return (
                f"error: there is no tool named {call.name!r}; available: "
                + ", ".join(self.handlers),
                False,
            )
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return (f"error: the arguments are not valid JSON ({exc}); send a JSON object", False)
        if not isinstance(args, dict):
            return ("error: the arguments must be a JSON object", False)
        try:
            result = handler(args)
        except (KeyError, TypeError, ValueError) as exc:
            return (f"error: bad arguments for {call.name}: {exc}", False)
        self.hooks.on_tool(call.name, call.arguments, result)
        return result, True

    def _check_budgets(self, started: float) -> None:
        b = self.budgets
        total = self.spent.plus(self.usage)
        tokens = total.prompt_tokens + total.completion_tokens
        reason = ""
        if self.steps >= b.max_steps:
            reason = f"{self.steps} model steps (limit {b.max_steps}, ERRAND_MAX_STEPS)"
        elif tokens >= b.max_tokens:
            reason = f"{tokens} tokens (limit {b.max_tokens}, ERRAND_MAX_TOKENS)"
        elif total.cost_usd >= b.max_cost_usd:
            reason = f"${total.cost_usd:.4f} (limit ${b.max_cost_usd}, ERRAND_MAX_COST_USD)"
        elif time.monotonic() - started >= b.max_wall_s:
            reason = f"{b.max_wall_s:.0f} s of wall time (ERRAND_MAX_WALL_S)"
        if reason:
            raise StageFailed("budget_exceeded", f"stopped: the task used {reason}")
