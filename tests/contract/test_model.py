"""ModelClient contract: LitellmModel against a real local OpenAI-compatible server, and the
ScriptedModel from files."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.litellm_model import LitellmModel, scrub
from shared.adapters.scripted_model import ScriptedModel
from shared.errors import ConfigError, ModelError
from shared.ports import Message, ModelClient, ToolSpec
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools

BASH = ToolSpec(
    name="bash",
    description="Run a shell command in the workspace.",
    parameters={
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
)
FINISH = ToolSpec(
    name="finish",
    description="Stop and summarise.",
    parameters={"type": "object", "properties": {"summary": {"type": "string"}}},
)
TOOLS = [BASH, FINISH]
START = [
    Message(role="system", content="You are a careful coding agent."),
    Message(role="user", content="List the files."),
]


def fast(
    api_base: str,
    model: str = "openai/some-model",
    api_key: str = "",
    price_per_mtok: tuple[float, float] | None = None,
) -> LitellmModel:
    """A LitellmModel that retries once, quickly, so failure tests stay fast."""
    return LitellmModel(
        model,
        api_base=api_base,
        api_key=api_key,
        price_per_mtok=price_per_mtok,
        timeout_s=10.0,
        retries=1,
        retry_backoff_s=0.01,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the contract, both adapters


def assert_tool_call_round_trip(model: ModelClient) -> None:
    first = model.complete(START, TOOLS)
    assert first.message.role == "assistant"
    [call] = first.message.tool_calls
    assert call.name == "bash"
    assert json.loads(call.arguments) == {"command": "ls -la"}
    assert call.id
    assert first.usage.prompt_tokens > 0
    assert first.usage.completion_tokens > 0

    conversation = [
        *START,
        first.message,
        Message(role="tool", tool_call_id=call.id, name="bash", content="README.md\nsetup.py"),
    ]
    second = model.complete(conversation, TOOLS)
    assert second.message.content == "All done."
    assert second.message.tool_calls == []


@pytest.fixture(params=["litellm", "scripted"])
def scripted_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelClient]:
    if request.param == "scripted":
        script = {
            "turns": [
                {"tool_calls": [{"name": "bash", "arguments": {"command": "ls -la"}}]},
                {"content": "All done."},
            ]
        }
        path = tmp_path / "script.json"
        path.write_text(json.dumps(script))
        yield ScriptedModel.from_file(path)
        return
    with FakeOpenAI() as server:
        server.push(tool_calls=[("bash", {"command": "ls -la"})])
        server.push(content="All done.")
        yield fast(server.base_url, api_key="k")


def test_contract_tool_call_round_trips(scripted_pair: ModelClient) -> None:
    assert_tool_call_round_trip(scripted_pair)


# ---------------------------------------------------------------- LitellmModel


def test_litellm_text_answer_and_usage() -> None:
    with FakeOpenAI() as server:
        server.push(content="hello there", prompt_tokens=120, completion_tokens=30)
        model = fast(server.base_url)
        done = model.complete(START, [])
        [sent] = server.requests
    assert done.message.content == "hello there"
    assert done.message.tool_calls == []
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (120, 30)
    assert done.usage.cost_usd == 0.0
    assert model.priced is False
    assert done.duration_s > 0
    assert sent["model"] == "some-model"
    assert "tools" not in sent  # an empty tool list is left out, some providers reject it
    assert sent["messages"] == [
        {"role": "system", "content": "You are a careful coding agent."},
        {"role": "user", "content": "List the files."},
    ]


def test_litellm_sends_the_conversation_in_openai_format() -> None:
    with FakeOpenAI() as server:
        server.push(tool_calls=[("bash", {"command": "ls -la"})])
        server.push(content="All done.")
        model = fast(server.base_url, api_key="k")
        assert_tool_call_round_trip(model)
        first, second = server.requests
    assert offered_tools(first) == ["bash", "finish"]
    assert first["tools"][0]["function"]["parameters"] == BASH.parameters
    assistant, tool = second["messages"][2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["function"] == {
        "name": "bash",
        "arguments": '{"command": "ls -la"}',
    }
    assert tool == {
        "role": "tool",
        "content": "README.md\nsetup.py",
        "tool_call_id": assistant["tool_calls"][0]["id"],
        "name": "bash",
    }


def test_litellm_passes_malformed_tool_arguments_through_raw() -> None:
    with FakeOpenAI() as server:
        server.push(tool_calls=[("bash", '{"command": "ls'), ("finish", "not json")])
        model = fast(server.base_url)
        done = model.complete(START, TOOLS)
    assert [(c.name, c.arguments) for c in done.message.tool_calls] == [
        ("bash", '{"command": "ls'),
        ("finish", "not json"),
    ]


def test_litellm_prices_with_price_per_mtok_or_the_cost_map() -> None:
    with FakeOpenAI() as server:
        server.push(content="a", prompt_tokens=1_000_000, completion_tokens=500_000)
        server.push(content="b", prompt_tokens=1_000_000, completion_tokens=0)
        custom = fast(server.base_url, price_per_mtok=(2.0, 8.0))
        assert custom.priced
        assert custom.complete(START, []).usage.cost_usd == pytest.approx(6.0)
        known = fast(server.base_url, "openai/gpt-4o-mini")
        assert known.priced
        assert known.complete(START, []).usage.cost_usd > 0


def test_litellm_unprefixed_name_goes_to_the_configured_endpoint() -> None:
    with FakeOpenAI() as server:
        server.push(content="ok")
        model = fast(server.base_url, "my-local-llama")
        assert model.complete(START, []).message.content == "ok"
        assert server.requests[0]["model"] == "my-local-llama"


def test_litellm_unknown_model_without_endpoint() -> None:
    with pytest.raises(ModelError, match="does not know model 'my-local-llama'") as info:
        LitellmModel("my-local-llama").complete(START, [])
    assert "ERRAND_MODEL_API_BASE" in info.value.message
    assert "openai/gpt-4o-mini" in info.value.message


def test_litellm_endpoint_down_says_where_and_what_to_do() -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    model = fast(base, api_key="sk-secret-value-123")
    with pytest.raises(ModelError) as info:
        model.complete(START, [])
    message = info.value.message
    assert base in message
    assert "could not reach" in message
    assert "ERRAND_MODEL_API_BASE" in message
    assert "after 2 attempts" in message
    assert "secret-value" not in message


def test_litellm_server_error_is_retried_then_reported() -> None:
    with FakeOpenAI() as server:
        server.push(status=500, error="boom")
        server.push(status=500, error="boom again")
        model = fast(server.base_url)
        with pytest.raises(ModelError, match=r"HTTP 500.*after 2 attempts.*boom again"):
            model.complete(START, [])
        assert len(server.requests) == 2

        server.push(status=503, error="warming up")
        server.push(content="recovered")
        assert model.complete(START, []).message.content == "recovered"


def test_litellm_auth_error_is_not_retried_and_never_shows_the_key() -> None:
    key = "sk-proj-abcdefghijklmnop"
    with FakeOpenAI() as server:
        # OpenAI echoes (part of) the key back; the message must not carry it on.
        server.push(status=401, error=f"Incorrect API key provided: {key}.")
        model = fast(server.base_url, api_key=key)
        with pytest.raises(ModelError) as info:
            model.complete(START, [])
        assert len(server.requests) == 1
        assert server.request_headers[0]["Authorization"] == f"Bearer {key}"
    assert "ERRAND_MODEL_API_KEY" in info.value.message
    assert "abcdefghijklmnop" not in info.value.message
    assert "abcdefghijklmnop" not in repr(model)


def test_litellm_never_sends_an_environment_key_to_a_custom_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-do-not-leak")
    with FakeOpenAI() as server:
        server.push(content="ok")
        fast(server.base_url).complete(START, [])
        [headers] = server.request_headers
    assert "do-not-leak" not in json.dumps(headers)


def test_litellm_not_found_and_bad_request() -> None:
    with FakeOpenAI() as server:
        server.push(status=404, error="The model `nope` does not exist")
        server.push(status=400, error="messages: field required")
        model = fast(server.base_url, "openai/nope")
        with pytest.raises(ModelError, match=r"has no model 'openai/nope'.*\(often /v1\)"):
            model.complete(START, [])
        with pytest.raises(ModelError, match=r"rejected the request.*field required"):
            model.complete(START, [])


def test_litellm_timeout() -> None:
    def slow(request: dict[str, Any]) -> Reply:
        time.sleep(1.5)
        return Reply(content="too late")

    with FakeOpenAI(router=slow) as server:
        model = LitellmModel("openai/some-model", api_base=server.base_url, timeout_s=0.3)
        with pytest.raises(ModelError, match=r"did not answer .* within 0\.3 s"):
            model.complete(START, [])
        assert len(server.requests) == 1  # the whole timeout was waited once: no retry


def test_scrub_removes_keys_and_tokens() -> None:
    text = "key mykey-1234 header Authorization: Bearer abc.def token sk-ant-0123456789"
    assert scrub(text, "mykey-1234") == ("key *** header Authorization: Bearer *** token sk-***")


# ---------------------------------------------------------------- ScriptedModel


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


STAGED = {
    "plan": [
        {
            "tool_calls": [
                {"name": "submit_plan", "arguments": {"summary": "s", "steps": [{"title": "t"}]}}
            ]
        }
    ],
    "execute": [
        {"content": "looking", "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}}]},
        {"tool_calls": [{"name": "finish", "arguments": '{"summary": "done"'}]},
    ],
}


def test_scripted_stage_selection_and_cursor_from_conversation(tmp_path: Path) -> None:
    path = write(tmp_path / "demo.json", STAGED)
    plan = ScriptedModel.from_file(path, stage="plan").complete(START, TOOLS)
    assert plan.message.tool_calls[0].name == "submit_plan"

    # A fresh instance (a new process) resumes from the conversation it is given.
    execute = ScriptedModel.from_file(path, stage="execute")
    first = execute.complete(START, TOOLS)
    assert first.message.content == "looking"
    assert first.message.tool_calls[0].id == "call_0_0"
    history = [*START, first.message, Message(role="tool", tool_call_id="call_0_0", content="x")]
    again = ScriptedModel.from_file(path, stage="execute").complete(history, TOOLS)
    assert again.message.tool_calls[0].name == "finish"
    assert again.message.tool_calls[0].arguments == '{"summary": "done"'  # raw, malformed
    assert again.message.tool_calls[0].id == "call_1_0"
    assert again.usage.prompt_tokens > first.usage.prompt_tokens > 0
    assert again.usage.cost_usd == 0.0

    with pytest.raises(ModelError, match="scripted model has no more turns"):
        execute.complete([*history, again.message], TOOLS)


def test_scripted_file_errors_are_config_errors(tmp_path: Path) -> None:
    staged = write(tmp_path / "staged.json", STAGED)
    with pytest.raises(ConfigError, match=r"no turns for 'summarize' \(it has: execute, plan\)"):
        ScriptedModel.from_file(staged, stage="summarize")
    flat = write(tmp_path / "flat.json", {"turns": [{"content": "hi"}]})
    with pytest.raises(ConfigError, match="no turns for 'plan'"):
        ScriptedModel.from_file(flat, stage="plan")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ScriptedModel.from_file(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        ScriptedModel.from_file(tmp_path / "missing.json")
    bad_turn = write(tmp_path / "bad.json", {"turns": [{"tool_calls": [{"arguments": {}}]}]})
    with pytest.raises(ConfigError, match="turn 0 of 'turns'"):
        ScriptedModel.from_file(bad_turn)


def test_scripted_from_messages() -> None:
    model = ScriptedModel([Message(role="assistant", content="only turn")])
    assert model.complete(START, []).message.content == "only turn"
    with pytest.raises(ConfigError, match="role 'user'"):
        ScriptedModel([Message(role="user", content="x")])


def test_litellm_missing_provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    model = LitellmModel("anthropic/claude-3-haiku-20240307", retries=0)
    with pytest.raises(ModelError, match=r"no API key for model .* set ERRAND_MODEL_API_KEY"):
        model.complete(START, [])


def test_a_priced_model_never_counts_a_call_as_free() -> None:
    from shared.adapters.litellm_model import _cost_from_map, import_litellm
    from shared.errors import ModelError

    litellm = import_litellm()
    info = litellm.get_model_info("gpt-4o-mini")
    expected = 1000 * info["input_cost_per_token"] + 100 * info["output_cost_per_token"]
    assert _cost_from_map(litellm, "gpt-4o-mini", 1000, 100) == pytest.approx(expected)
    assert expected > 0
    with pytest.raises(ModelError, match="ERRAND_MODEL_PRICE"):
        _cost_from_map(litellm, "nosuchvendor/not-a-model", 1000, 100)
