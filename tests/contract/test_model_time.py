"""Model time is the wait for the model's answer only, and a warmed process makes its first
call without loading litellm's provider code."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shared.adapters.litellm_model import LitellmModel
from shared.ports import Message
from tests.support.fake_openai import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[2]
SLOW_S = 0.4


def slow(request: dict[str, Any]) -> Reply:
    time.sleep(SLOW_S)
    return Reply(content="ok")


def test_duration_is_the_wait_on_the_wire_not_the_call() -> None:
    with FakeOpenAI(router=slow) as llm:
        model = LitellmModel("openai/fake", api_base=llm.base_url, api_key="k")
        started = time.monotonic()
        completion = model.complete([Message(role="user", content="hi")], [])
        wall = time.monotonic() - started
    assert completion.message.content == "ok"
    assert SLOW_S <= completion.duration_s <= wall


WARMED = """
import os, sys, threading, time
from shared.adapters.litellm_warm import warm_completion
warm_completion()
assert threading.active_count() == 1, threading.enumerate()
loaded = set(sys.modules)
from shared.adapters.litellm_model import LitellmModel
from shared.ports import Message
from jobs.agent.tools import BASH, FINISH
pid = os.fork()
if pid == 0:  # like a job forked from the warm pool
    model = LitellmModel("openai/fake", api_base=sys.argv[1], api_key="k")
    done = model.complete([Message(role="user", content="hi")], [BASH, FINISH])  # as stages do
    prefixes = ("litellm", "openai", "httpx")
    new = sorted(m for m in set(sys.modules) - loaded if m.startswith(prefixes))
    print("NEW", new, "CALLS", [c.name for c in done.message.tool_calls], flush=True)
    model.complete([Message(role="user", content="again")], [])  # the logging pool works
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_warmed_process_forks_without_threads_and_loads_nothing_on_the_first_call() -> None:
    with FakeOpenAI(router=lambda r: Reply(tool_calls=[("bash", {"command": "ls"})])) as llm:
        proc = subprocess.run(
            [sys.executable, "-c", WARMED, llm.base_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        served = len(llm.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NEW [] CALLS ['bash']" in proc.stdout, proc.stdout
    assert served == 2  # the warm-up call went to its own responder, not here
