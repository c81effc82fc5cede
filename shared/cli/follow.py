"""Following a task: `--wait` (until it ends or stops at a gate) and `watch` (every event)."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from shared.cli.common import EXIT_GATE
from shared.cli.render import print_task
from shared.client import Client

GATES = {"plan_review", "diff_review"}


def wait(client: Client, task_id: str, as_json: bool) -> int:
    """Follows the task until it ends or stops at a gate. The stream replays history first, so
    a status event alone does not say where the task is now: ask the task itself."""
    for event in client.events(task_id):
        if event.kind.value == "status" and client.get(task_id)["status"] in GATES:
            break
    task = client.get(task_id)
    code = print_task(task, as_json)
    if task["status"] in GATES:
        print(
            f"waiting for approval: errand task approve {task_id} "
            f"--{'plan' if task['status'] == 'plan_review' else 'diff'}",
            file=sys.stderr,
        )
        return EXIT_GATE
    return code


def watch(client: Client, task_id: str) -> int:
    for event in client.events(task_id):
        stamp = datetime.fromtimestamp(event.created_at.timestamp()).strftime("%H:%M:%S")
        d = event.data
        kind = event.kind.value
        if kind == "status":
            line = f"== {d.get('status')}"
            if d.get("error"):
                line += f": {d['error']}"
        elif kind == "log":
            line = f"   {str(d.get('message', ''))[-400:]}"
        elif kind == "tool":
            line = f"-> {d.get('tool')} {str(d.get('arguments', ''))[:200]}"
        else:
            line = f"** {kind} {json.dumps(d)[:300]}"
        print(f"[{stamp}] {line}", flush=True)
        if kind == "status" and d.get("status") in GATES:
            print(f"waiting for approval (errand task approve {task_id} ...)", flush=True)
    return print_task(client.get(task_id), False)
