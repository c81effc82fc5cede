"""Network during execute is off by default; a repository can ask for egress in .errand.toml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Runner
from tests.e2e.test_bad_input import node_repo, run_task
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools

pytestmark = pytest.mark.e2e

PROBE = (
    "python3 -c \"import socket; socket.create_connection(('registry.npmjs.org', 443), "
    "timeout=10); print('NET-' + 'OK')\" || echo NET-BLOCKED; echo x >> index.js"
)


def route(request: dict[str, Any]) -> Reply:
    tools = offered_tools(request)
    if "submit_plan" in tools:
        return Reply(tool_calls=[("submit_plan", {"summary": "s", "steps": [{"title": "t"}]})])
    if "bash" in tools:
        if any(m["role"] == "assistant" for m in request["messages"]):
            return Reply(tool_calls=[("finish", {"summary": "done"})])
        return Reply(tool_calls=[("bash", {"command": PROBE})])
    return Reply(content="Checked the network. " * 10)


def probe_output(tmp_path: Path, errand: Runner, extra: dict[str, str]) -> str:
    with FakeOpenAI(router=route) as llm:
        run_task(
            errand, str(node_repo(tmp_path, extra)), env={"ERRAND_MODEL_API_BASE": llm.base_url}
        )
        results = [m["content"] for r in llm.requests for m in r["messages"] if m["role"] == "tool"]
    return json.dumps(results)


def test_execute_has_no_network_by_default(tmp_path: Path, errand: Runner) -> None:
    out = probe_output(tmp_path, errand, {})
    assert "NET-BLOCKED" in out and "NET-OK" not in out


def test_repository_config_allows_egress_during_execute(tmp_path: Path, errand: Runner) -> None:
    out = probe_output(
        tmp_path, errand, {".errand.toml": "[sandbox]\nnetwork_during_execute = true\n"}
    )
    assert "NET-OK" in out, out[-2000:]
