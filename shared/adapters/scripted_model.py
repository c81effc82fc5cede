"""ModelClient that replays assistant turns from a file: for tests and the labelled demo only,
never a fallback for a real model.

File format (JSON), either one conversation per stage:

    {"plan":      [TURN, ...],
     "execute":   [TURN, ...],
     "summarize": [TURN, ...]}

or a single conversation:

    {"turns": [TURN, ...]}

where TURN is

    {"content": "text (optional)",
     "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}}]}

`arguments` is an object (sent as its JSON text) or a string sent verbatim, which lets tests
feed malformed JSON. Stage keys are free-form names chosen by the caller of `from_file`.

The cursor is stateless: the turn replayed is the number of assistant messages already in the
conversation passed to `complete()`. A stage that runs again in a fresh process (redelivery)
therefore resumes where its conversation stands. This assumes the caller keeps every assistant
message in the conversation it sends (no history trimming).

Tool-call ids are `call_<turn>_<index>`; usage is estimated as characters / 4, at no cost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, JsonValue, ValidationError

from shared.domain import Model, Usage
from shared.errors import ConfigError, ModelError
from shared.ports import Completion, Message, ToolCall, ToolSpec

_CHARS_PER_TOKEN = 4


class ScriptedCall(Model):
    name: str = Field(min_length=1)
    arguments: dict[str, JsonValue] | str = Field(default_factory=dict)


class ScriptedTurn(Model):
    content: str = ""
    tool_calls: list[ScriptedCall] = Field(default_factory=list)


class ScriptedModel:
    def __init__(self, turns: Sequence[Message | ScriptedTurn], name: str = "") -> None:
        self.turns = [_as_message(t, i) for i, t in enumerate(turns)]
        self.name = name or "scripted"
        self.priced = False

    def __repr__(self) -> str:
        return f"ScriptedModel({self.name!r}, {len(self.turns)} turns)"

    @classmethod
    def from_file(cls, path: Path | str, stage: str = "") -> ScriptedModel:
        """Loads the turns of `stage` ('' = the single-conversation "turns" list). Raises
        ConfigError when the file is missing or malformed or has no such stage; a flat file does
        not serve named stages, since each stage's conversation starts again at turn 0."""
        path = Path(path)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"cannot read the scripted model file {path}: {exc.strerror}"
            ) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"the scripted model file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"the scripted model file {path} must hold a JSON object")
        key = stage or "turns"
        if key not in data:
            have = ", ".join(sorted(data)) or "nothing"
            raise ConfigError(
                f"the scripted model file {path} has no turns for '{key}' (it has: {have}) —"
                f' add a "{key}": [...] list'
            )
        raw = data[key]
        if not isinstance(raw, list):
            raise ConfigError(f"'{key}' in the scripted model file {path} must be a list of turns")
        turns: list[ScriptedTurn] = []
        for i, item in enumerate(raw):
            try:
                turns.append(ScriptedTurn.model_validate(item))
            except ValidationError as exc:
                raise ConfigError(
                    f"turn {i} of '{key}' in the scripted model file {path} is malformed: {exc}"
                ) from exc
        return cls(turns, name=f"{path.name}:{key}")

    def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        cursor = sum(1 for m in messages if m.role == "assistant")
        if cursor >= len(self.turns):
            raise ModelError(
                f"the scripted model has no more turns ({self.name} has {len(self.turns)}, the"
                f" conversation already holds {cursor} assistant messages) — add turns to the"
                " script or check that the agent stops when the script expects it to"
            )
        turn = self.turns[cursor]
        message = turn.model_copy(
            update={
                "tool_calls": [
                    call.model_copy(update={"id": f"call_{cursor}_{i}"})
                    for i, call in enumerate(turn.tool_calls)
                ]
            }
        )
        prompt_chars = sum(_chars(m) for m in messages) + sum(
            len(t.model_dump_json()) for t in tools
        )
        usage = Usage(
            prompt_tokens=_tokens(prompt_chars),
            completion_tokens=_tokens(_chars(message)),
            cost_usd=0.0,
        )
        return Completion(message=message, usage=usage, duration_s=0.0)


def _as_message(turn: Message | ScriptedTurn, index: int) -> Message:
    if isinstance(turn, Message):
        if turn.role != "assistant":
            raise ConfigError(f"scripted turn {index} has role '{turn.role}', not 'assistant'")
        return turn
    calls = [
        ToolCall(
            id="",
            name=call.name,
            arguments=call.arguments
            if isinstance(call.arguments, str)
            else json.dumps(call.arguments),
        )
        for call in turn.tool_calls
    ]
    return Message(role="assistant", content=turn.content, tool_calls=calls)


def _chars(message: Message) -> int:
    return len(message.content) + sum(len(c.name) + len(c.arguments) for c in message.tool_calls)


def _tokens(chars: int) -> int:
    return max(1, chars // _CHARS_PER_TOKEN) if chars else 0
