"""50 tasks submitted at once to a live `errand up` (the demo task, scripted model, each on
its own copy of the sample repository), from this second process: every task must complete
(queued beyond what the machine can run at once), none fail. Reports tasks per minute.

Workspaces are tmpfs volumes here (ERRAND_BENCH_WORKSPACE overrides): loop devices are few
and shared with whatever else runs on the machine."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from shared.demo import PROMPT, make_sample_repo, turns_path
from tests.support.live_server import LiveServer, live_server

TASKS = 50
DEADLINE_S = 900.0
TERMINAL = {"completed", "failed", "cancelled"}


def submit(srv: LiveServer, repo: Path) -> str:
    body = {
        "repo": str(repo),
        "prompt": PROMPT,
        "model": f"scripted:{turns_path()}",
        "auto_approve": True,
    }
    resp = httpx.post(f"{srv.url}/api/tasks", json=body, headers=srv.auth, timeout=60)
    resp.raise_for_status()
    return str(resp.json()["id"])


def run(tmp: Path) -> dict[str, Any]:
    home = tmp / "home"
    home.mkdir()
    repos = [make_sample_repo(tmp / f"repo{i}") for i in range(TASKS)]
    backend = os.environ.get("ERRAND_BENCH_WORKSPACE", "tmpfs")
    with live_server(home, {"ERRAND_WORKSPACE_BACKEND": backend}) as srv:
        started = time.monotonic()
        with ThreadPoolExecutor(TASKS) as pool:
            ids = list(pool.map(lambda repo: submit(srv, repo), repos))
        submitted_s = time.monotonic() - started
        done: dict[str, dict[str, Any]] = {}
        finish_times: list[float] = []
        while len(done) < TASKS and time.monotonic() - started < DEADLINE_S:
            listed = httpx.get(f"{srv.url}/api/tasks?limit=500", headers=srv.auth, timeout=60)
            for task in listed.json()["tasks"]:
                if task["id"] in ids and task["id"] not in done and task["status"] in TERMINAL:
                    done[task["id"]] = task
                    finish_times.append(time.monotonic() - started)
            time.sleep(1.0)
        wall = time.monotonic() - started
    statuses = Counter(t["status"] for t in done.values())
    errors = Counter(
        f"{t['error']['code']}: {t['error']['message'][:120]}"
        for t in done.values()
        if t.get("error")
    )
    return {
        "tasks": TASKS,
        "workspace_backend": backend,
        "submit_all_s": round(submitted_s, 2),
        "completed": statuses.get("completed", 0),
        "failed": statuses.get("failed", 0),
        "unfinished": TASKS - len(done),
        "wall_s": round(wall, 1),
        "first_done_s": round(min(finish_times), 1) if finish_times else None,
        "tasks_per_minute": round(len(done) / wall * 60, 1) if done else 0.0,
        "errors": dict(errors.most_common(5)),
    }


def main() -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp))
    result["machine_load_1m"] = {"before": load_before, "after": os.getloadavg()[0]}
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
