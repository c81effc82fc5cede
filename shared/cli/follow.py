"""Following a task until it ends or stops at a gate, and saying how it ended: the exit code,
the review to do at a gate, what keeps running after Ctrl-C."""

from __future__ import annotations

import sys
from datetime import datetime

from shared.cli.common import EXIT_FAILED, EXIT_GATE, EXIT_INTERRUPTED, EXIT_OK, GATES
from shared.cli.live import JsonView, LiveView, PlainView, View
from shared.cli.render import console, print_task
from shared.client import Client, TaskJson
from shared.domain import EventKind


def follow(
    client: Client,
    task_id: str,
    *,
    as_json: bool,
    in_process: bool,
    since: str | None = None,
    events_as_json: bool = False,
) -> int:
    """Shows the task's events live until it ends or stops at a gate, then the task. `since`
    (the task's updated_at after an action) leaves out the history before that action."""
    view = _view(task_id, as_json, events_as_json)
    try:
        task = _stream(client, task_id, view, since)
    except KeyboardInterrupt:
        if view is not None:
            view.close()
        _interrupted(task_id, in_process)
        return EXIT_INTERRUPTED
    if view is not None:
        view.close()
    return outcome(task, as_json or events_as_json)


def _view(task_id: str, as_json: bool, events_as_json: bool) -> View | None:
    if events_as_json:
        return JsonView()
    if as_json:
        return None  # machines get the final task only
    if sys.stdout.isatty():
        return LiveView(console(), task_id)
    return PlainView()


def _stream(client: Client, task_id: str, view: View | None, since: str | None) -> TaskJson:
    start = datetime.fromisoformat(since) if since else None
    for event in client.events(task_id):
        if start is not None and event.created_at < start:
            continue
        if view is not None:
            view.event(event)
        gate = event.data.get("status")
        if event.kind == EventKind.STATUS and gate in GATES:
            # the stream replays history first: only the task says where it is now
            task = client.get(task_id)
            if task["status"] == gate:
                return task
    return client.get(task_id)


def outcome(task: TaskJson, as_json: bool) -> int:
    """Prints the task as it ended up and returns the exit code for it."""
    print_task(task, as_json)
    status = task["status"]
    if status in GATES:
        return EXIT_GATE
    return EXIT_FAILED if status in ("failed", "cancelled") else EXIT_OK


def _interrupted(task_id: str, in_process: bool) -> None:
    if in_process:
        message = (
            f"\nstopped following {task_id}. No server is running, so the task pauses where it "
            f"is and goes on the next time Errand runs: `errand task watch {task_id}` (or "
            f"`errand up`) resumes it; `errand task cancel {task_id}` stops it for good."
        )
    else:
        message = (
            f"\nstopped following {task_id}; it keeps running on the server. Follow it again: "
            f"`errand task watch {task_id}`; stop it: `errand task cancel {task_id}`."
        )
    print(message, file=sys.stderr, flush=True)
