"""`errand doctor`'s model check against a real local OpenAI-compatible server, a closed port,
and a provider without its key."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.doctor_model import check_model
from shared.settings import Settings
from shared.wiring import Deps
from tests.support.fake_openai import FakeOpenAI, Reply


def deps_for(tmp_path: Path, **settings: object) -> tuple[Settings, Deps]:
    s = Settings(home=tmp_path / "home", **settings)  # type: ignore[arg-type]
    return s, Deps(s)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


def test_a_server_that_answers_is_ok_and_live_makes_one_call(tmp_path: Path) -> None:
    with FakeOpenAI(router=lambda _: Reply(content="ok")) as llm:
        s, d = deps_for(
            tmp_path, model="openai/fake", model_api_base=llm.base_url, model_price=(0.0, 0.0)
        )
        assert "1 models listed" in check_model(s, d, live=False)
        assert llm.requests == []
        assert "a one-token call answered" in check_model(s, d, live=True)
        assert len(llm.requests) == 1


def test_a_server_that_is_down_is_reported(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    s, d = deps_for(tmp_path, model="openai/fake", model_api_base=base)
    with pytest.raises(RuntimeError, match=r"does not answer.*ERRAND_MODEL_API_BASE"):
        check_model(s, d, live=False)


def test_a_provider_without_its_key_is_reported(tmp_path: Path) -> None:
    s, d = deps_for(tmp_path, model="anthropic/claude-x")
    with pytest.raises(RuntimeError, match=r"needs a anthropic API key.*ERRAND_MODEL_API_KEY"):
        check_model(s, d, live=False)


def test_a_refused_key_is_reported(tmp_path: Path) -> None:
    with FakeOpenAI(router=lambda _: Reply(status=401, error="bad key")) as llm:
        s, d = deps_for(
            tmp_path, model="openai/fake", model_api_base=llm.base_url,
            model_api_key=SecretStr("sk-wrong-0123456789abcdef"), model_price=(0.0, 0.0),
        )  # fmt: skip
        with pytest.raises(RuntimeError, match="the model call failed"):
            check_model(s, d, live=True)
