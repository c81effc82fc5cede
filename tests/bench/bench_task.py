"""Task overhead: wall time of a whole task minus the time spent waiting on the model, inside
sandboxed commands (installs, tests, the agent's commands) and rendering speech — i.e. what
Errand itself costs: queue deliveries, job starts, store writes, git, diff handling.

Runs the demo task with the scripted model on the embedded stack in this process (the warm job
pool is started before the clock starts, as a running server has it)."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.client import LocalClient
from shared.demo import PROMPT, make_sample_repo, turns_path
from shared.services import CreateTask
from shared.settings import Settings
from shared.stack import Stack

RUNS = 3


def one_task(client: LocalClient, stack: Stack, repo: Path) -> dict[str, float]:
    started = time.monotonic()
    task = client.create(
        CreateTask(
            repo=str(repo), prompt=PROMPT, model=f"scripted:{turns_path()}", auto_approve=True
        )
    )
    for _ in client.events(task["id"]):
        pass
    wall = time.monotonic() - started
    stored = stack.deps.store.get_task(task["id"])
    if stored.status.value != "completed":
        raise RuntimeError(f"bench task ended {stored.status.value}: {stored.error}")
    t = stored.timings
    return {
        "wall_s": wall,
        "model_s": t.model_s,
        "sandbox_s": t.sandbox_s,
        "speech_s": t.speech_s,
        "overhead_s": wall - t.model_s - t.sandbox_s - t.speech_s,
    }


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        stack = Stack(Settings(home=home))
        stack.start()
        try:
            client = LocalClient(stack)
            runs = [
                one_task(client, stack, make_sample_repo(Path(tmp) / f"repo{i}"))
                for i in range(RUNS)
            ]
        finally:
            stack.stop()
    overheads = [r["overhead_s"] for r in runs]
    result = {
        "task_overhead_s": round(statistics.median(overheads), 3),
        "task_overhead_target_s": 1.0,
        "task_runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
