"""`errand task ...`: create, follow, review and approve tasks."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from shared.cli.common import EXIT_OK, connect
from shared.cli.follow import wait, watch
from shared.cli.render import print_task
from shared.client import Client
from shared.domain import Plan
from shared.errors import InvalidInput
from shared.services import CreateTask
from shared.settings import Settings


def register(sub: Any) -> None:
    task = sub.add_parser("task", help="create and follow tasks").add_subparsers(
        dest="action", required=True
    )
    c = task.add_parser("create")
    c.add_argument("--repo", required=True)
    c.add_argument("--prompt", required=True, help="the task; '-' reads it from stdin")
    c.add_argument("--branch", default="")
    c.add_argument("--model", default="")
    c.add_argument("--auto-approve", action="store_true")
    c.add_argument("--wait", action="store_true")
    c.add_argument("--json", action="store_true")
    s = task.add_parser("show")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    w = task.add_parser("watch")
    w.add_argument("id")
    a = task.add_parser("approve")
    a.add_argument("id")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--plan", action="store_true")
    g.add_argument("--diff", action="store_true")
    a.add_argument("--plan-file", help="a JSON file with an edited plan to approve instead")
    a.add_argument("--wait", action="store_true")
    a.add_argument("--json", action="store_true")
    task.add_parser("list").add_argument("--json", action="store_true")
    task.add_parser("cancel").add_argument("id")
    for p in task.choices.values():
        p.set_defaults(handler=run_task_command)


def run_task_command(args: argparse.Namespace, settings: Settings) -> int:
    client, stack = connect(settings)
    try:
        return _dispatch(args, client, in_process=stack is not None)
    finally:
        if stack is not None:
            stack.stop()


def _dispatch(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    if args.action == "create":
        req = CreateTask(
            repo=args.repo,
            prompt=sys.stdin.read() if args.prompt == "-" else args.prompt,
            branch=args.branch,
            model=args.model,
            auto_approve=args.auto_approve,
        )
        task = client.create(req)
        if not args.wait:
            if in_process:
                print(
                    f"{task['id']} queued; no server is running, so it runs when `errand up` "
                    f"starts or while `errand task watch {task['id']}` follows it",
                    file=sys.stderr,
                )
            return print_task(task, args.json)
        return wait(client, task["id"], args.json)
    if args.action == "show":
        return print_task(client.get(args.id), args.json)
    if args.action == "list":
        tasks = client.list()
        if args.json:
            print(json.dumps(tasks, indent=2))
        for t in [] if args.json else tasks:
            print(f"{t['id']}  {t['status']:<12} {t['repo']}  {t['prompt'][:50]!r}")
        return EXIT_OK
    if args.action == "watch":
        return watch(client, args.id)
    if args.action == "approve":
        if args.diff:
            task = client.approve_diff(args.id)
        else:
            plan = None
            if args.plan_file:
                plan = read_plan(args.plan_file)
            task = client.approve_plan(args.id, plan)
        return wait(client, args.id, args.json) if args.wait else print_task(task, args.json)
    if args.action == "cancel":
        return print_task(client.cancel(args.id), False)
    raise AssertionError(args.action)


def read_plan(path: str) -> Plan:
    try:
        with open(path, encoding="utf-8") as fh:
            return Plan.model_validate_json(fh.read())
    except OSError as exc:
        raise InvalidInput(f"cannot read the plan file {path}: {exc.strerror}") from None
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "the file"
        raise InvalidInput(
            f"{path} is not a valid plan ({where}: {problem['msg']}); it must be JSON like "
            '{"summary": "...", "steps": [{"title": "...", "details": "...", "files": []}]}'
        ) from None
