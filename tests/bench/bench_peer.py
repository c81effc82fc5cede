"""Errand against mini-swe-agent 2.4.6, side by side, on the same trivial fix and the same local
stand-in model (tests/support/fake_openai.py, answering at once).

- Errand: a warm server (the embedded stack, its job pool started and one task run before the
  clock) takes the task through every stage: clone, sandbox, dependency env (cached), baseline
  tests, plan, execute, verify (tests again), publish (a branch in the local forge), summarize
  (the spoken summary rendered). Wall time from creating the task to its last event.
- mini-swe-agent: its bare harness (DefaultAgent, LocalEnvironment, its LitellmModel, default
  config) run as a user runs it, a fresh process per task: no sandbox, no tests, no publish.
  Wall time from starting the process to its exit.

Both get the same fix as one bash call; Errand makes 4 model calls (plan, 2 execute, summary),
mini-swe-agent 2 (fix, submit). Target: Errand <= 0.7 x the peer. The peer's venv comes from
scripts/setup.d/40-mini-swe-agent.sh (run here when missing).

`python -m tests.bench.bench_peer` prints the figures as JSON."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.client import LocalClient
from shared.demo import PROMPT, make_sample_repo
from shared.services import CreateTask
from shared.settings import Settings
from shared.stack import Stack
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools

ROOT = Path(__file__).resolve().parents[2]
PEER_VENV = ROOT / ".venv-mini-swe-agent"
RUNS = 3
TARGET_RATIO = 0.7
FIX = "sed -i 's/return a - b/return a + b/' calc.py"
PLAN = {
    "summary": "Fix add() so it returns the sum.",
    "steps": [{"title": "Fix the operator in add()", "files": ["calc.py"]}],
}
PEER_RUN = """
import sys, time, yaml
from minisweagent import package_dir
from minisweagent.agents.default import DefaultAgent
from minisweagent.environments.local import LocalEnvironment
from minisweagent.models.litellm_model import LitellmModel
config = yaml.safe_load((package_dir / "config" / "default.yaml").read_text())
model = LitellmModel(
    model_name="openai/fake",
    model_kwargs={"api_base": sys.argv[1], "api_key": "no-key"},
    cost_tracking="ignore_errors",
)
agent = DefaultAgent(model, LocalEnvironment(cwd=sys.argv[2]), **config["agent"])
started = time.monotonic()
result = agent.run(sys.argv[3])
print(f"RUN_S={time.monotonic() - started:.3f}")
sys.exit(0 if result.get("exit_status") == "Submitted" else 1)
"""


def _turns(request: dict[str, Any]) -> int:
    return sum(1 for m in request["messages"] if m["role"] == "assistant")


def errand_model(request: dict[str, Any]) -> Reply:
    tools = offered_tools(request)
    if "submit_plan" in tools:
        return Reply(tool_calls=[("submit_plan", PLAN)])
    if "finish" in tools:
        if _turns(request) == 0:
            return Reply(tool_calls=[("bash", {"command": FIX})])
        return Reply(tool_calls=[("finish", {"summary": "add() now returns a + b"})])
    return Reply(content="add() subtracted; it now adds, and all three tests pass.")


def peer_model(request: dict[str, Any]) -> Reply:
    if _turns(request) == 0:
        return Reply(tool_calls=[("bash", {"command": FIX})])
    return Reply(tool_calls=[("bash", {"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"})])


def _errand_task(client: LocalClient, stack: Stack, repo: Path) -> dict[str, float]:
    started = time.monotonic()
    task = client.create(
        CreateTask(repo=str(repo), prompt=PROMPT, model="openai/fake", auto_approve=True)
    )
    for _ in client.events(task["id"]):
        pass
    wall = time.monotonic() - started
    stored = stack.deps.store.get_task(task["id"])
    if stored.status.value != "completed":
        raise RuntimeError(f"Errand's bench task ended {stored.status.value}: {stored.error}")
    t = stored.timings
    return {
        "wall_s": wall,
        "model_s": t.model_s,
        "sandbox_s": t.sandbox_s,
        "speech_s": t.speech_s,
        "overhead_s": wall - t.model_s - t.sandbox_s - t.speech_s,
    }


def _peer_task(base_url: str, repo: Path) -> tuple[float, float]:
    """(wall time of the process, time inside `agent.run` alone)."""
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo.parent)}
    env |= {"MSWEA_CONFIGURED": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started = time.monotonic()
    done = subprocess.run(
        [str(PEER_VENV / "bin" / "python"), "-c", PEER_RUN, base_url, str(repo), PROMPT],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    wall = time.monotonic() - started
    if done.returncode != 0 or "a + b" not in (repo / "calc.py").read_text():
        raise RuntimeError(f"mini-swe-agent did not make the fix:\n{done.stderr[-3000:]}")
    run_s = float(done.stdout.rsplit("RUN_S=", 1)[1].split()[0])
    return wall, run_s


def _ensure_peer() -> None:
    if not (PEER_VENV / "bin" / "python").exists():
        subprocess.run(["bash", "scripts/setup.d/40-mini-swe-agent.sh"], cwd=ROOT, check=True)


def main() -> dict[str, Any]:
    _ensure_peer()
    with (
        tempfile.TemporaryDirectory(prefix="errand-bench-peer-") as tmp,
        FakeOpenAI(router=errand_model) as ours,
        FakeOpenAI(router=peer_model) as theirs,
    ):
        repo = make_sample_repo(Path(tmp) / "calc")
        peer_repo = make_sample_repo(Path(tmp) / "peer" / "calc")
        # stage jobs read their settings from the environment, as Cloud Run Jobs do
        os.environ["ERRAND_MODEL_API_BASE"] = ours.base_url
        os.environ["ERRAND_MODEL_PRICE"] = "0,0"  # a free local model
        settings = Settings(home=Path(tmp) / "home", model_api_base=ours.base_url)
        stack = Stack(settings.model_copy(update={"model_price": (0.0, 0.0)}))
        stack.start()
        try:
            client = LocalClient(stack)
            _errand_task(client, stack, repo)  # warm: the dependency env, the context cache
            errand = [_errand_task(client, stack, repo) for _ in range(RUNS)]
        finally:
            stack.stop()
        _peer_task(theirs.base_url, peer_repo)  # warm: the OS file cache of its venv
        peer = [_peer_task(theirs.base_url, peer_repo) for _ in range(RUNS)]
    errand_s = statistics.median(r["wall_s"] for r in errand)
    peer_s = statistics.median(wall for wall, _ in peer)
    peer_run_s = statistics.median(run for _, run in peer)
    return {
        "errand_wall_s": round(errand_s, 3),
        "peer_wall_s": round(peer_s, 3),
        "ratio": round(errand_s / peer_s, 3),
        "target_ratio": TARGET_RATIO,
        "met": errand_s / peer_s <= TARGET_RATIO,
        # The peer's agent loop alone, without its process start and imports (~2 s of litellm):
        # what it would take if it too ran warm.
        "peer_agent_run_s": round(peer_run_s, 3),
        "ratio_to_peer_agent_run": round(errand_s / peer_run_s, 3),
        "errand_overhead_s": round(statistics.median(r["overhead_s"] for r in errand), 3),
        "errand_runs": [{k: round(v, 3) for k, v in r.items()} for r in errand],
        "peer_runs_s": [round(wall, 3) for wall, _ in peer],
        "peer": "mini-swe-agent 2.4.6 (fresh process per task, as `mini` runs)",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
