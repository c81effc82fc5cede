"""How a task looks in the terminal."""

from __future__ import annotations

import json

from shared.cli.common import EXIT_FAILED, EXIT_OK
from shared.client import TaskJson


def print_task(task: TaskJson, as_json: bool) -> int:
    if as_json:
        print(json.dumps(task, indent=2))
    else:
        print(f"{task['id']}  {task['status']}")
        print(f"  repo: {task['repo']}  branch: {task['branch'] or '-'}")
        if task.get("plan"):
            print(f"  plan: {task['plan']['summary']}")
        tests = task.get("tests") or {}
        if tests.get("after"):
            print(f"  tests: before {tests['baseline']} after {tests['after']}")
        elif tests.get("suite_found") is False:
            print("  tests: none in the repository — nothing of its own verified the change")
            if tests.get("check_command"):
                code = tests.get("check_exit_code")
                outcome = "not run" if code is None else f"exit code {code}"
                print(f"  check proposed by the model: `{tests['check_command']}` ({outcome})")
        if task.get("audio"):
            print(f"  audio: {task['audio']['path']}")
        if task.get("error"):
            print(f"  error: {task['error']['message']}")
    return EXIT_FAILED if task["status"] in ("failed", "cancelled") else EXIT_OK
