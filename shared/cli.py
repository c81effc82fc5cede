"""The `errand` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.client import Client, ClientError, HttpClient, LocalClient, TaskJson
from shared.domain import Plan
from shared.errors import ErrandError, InvalidInput
from shared.services import CreateTask
from shared.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATE = 0, 1, 2, 3
TERMINAL = {"completed", "failed", "cancelled"}
GATES = {"plan_review", "diff_review"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="errand", description="Errand: an asynchronous coding agent")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="serve the API, queue worker and job pool on 127.0.0.1")
    up.add_argument("--port", type=int, default=None)
    sub.add_parser("doctor", help="check this machine and say how to fix what is missing")
    demo = sub.add_parser(
        "demo", help="run a task on a bundled sample repo with the scripted model"
    )
    demo.add_argument("--json", action="store_true")

    gh = sub.add_parser("github", help="the GitHub App").add_subparsers(dest="gh", required=True)
    setup = gh.add_parser("setup", help="register the GitHub App (manifest flow) and store it")
    setup.add_argument("--public-url", default="", help="where GitHub reaches this Errand")
    setup.add_argument("--org", default="", help="register the App under this organization")
    setup.add_argument("--manual", action="store_true", help="print the steps instead")
    setup.add_argument("--app-id", type=int, default=0)
    setup.add_argument("--private-key-file", type=Path, default=None)
    setup.add_argument("--webhook-secret-file", type=Path, default=None)

    ev = sub.add_parser("eval", help="evaluations").add_subparsers(dest="eval", required=True)
    ev.add_parser("localize", help="recall@k of localization: --dataset FILE.jsonl [--k 1,5,10]")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["eval", "localize"]:  # its own options parser
        from shared.eval_localize import main as localize

        return localize(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "up":
            from shared.up import serve

            return serve(settings, args.port or settings.port)
        if args.command == "doctor":
            from shared.doctor import run_doctor

            return run_doctor(settings)
        if args.command == "github":
            from shared.github.setup import run_setup
            from shared.wiring import Deps

            return run_setup(
                settings,
                Deps(settings).secrets,
                public_url=args.public_url or settings.github.public_url,
                org=args.org,
                manual=args.manual,
                app_id=args.app_id,
                key_file=args.private_key_file,
                secret_file=args.webhook_secret_file,
            )
        if args.command == "demo":
            from shared.demo import run_demo

            return run_demo(settings, as_json=args.json)
        return run_task_command(args, settings)
    except ErrandError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.http_status < 500 else EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `errand ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def connect(settings: Settings) -> tuple[Client, Any]:
    """A client for the running server, or an in-process stack on the same home."""
    from shared.stack import Stack, read_server_file

    info = read_server_file(settings.home)
    if info:
        client = HttpClient(info.url, info.token)
        try:
            client._call("GET", "/api/health")
            return client, None
        except ClientError:
            pass  # a stale server file: the server is gone
    stack = Stack(settings)
    return LocalClient(stack), stack


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
            return _print_task(task, args.json)
        return _wait(client, task["id"], args.json)
    if args.action == "show":
        return _print_task(client.get(args.id), args.json)
    if args.action == "list":
        tasks = client.list()
        if args.json:
            print(json.dumps(tasks, indent=2))
        for t in [] if args.json else tasks:
            print(f"{t['id']}  {t['status']:<12} {t['repo']}  {t['prompt'][:50]!r}")
        return EXIT_OK
    if args.action == "watch":
        return _watch(client, args.id)
    if args.action == "approve":
        if args.diff:
            task = client.approve_diff(args.id)
        else:
            plan = None
            if args.plan_file:
                plan = read_plan(args.plan_file)
            task = client.approve_plan(args.id, plan)
        return _wait(client, args.id, args.json) if args.wait else _print_task(task, args.json)
    if args.action == "cancel":
        return _print_task(client.cancel(args.id), False)
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


def _wait(client: Client, task_id: str, as_json: bool) -> int:
    """Follows the task until it ends or stops at a gate. The stream replays history first, so
    a status event alone does not say where the task is now: ask the task itself."""
    for event in client.events(task_id):
        if event.kind.value == "status" and client.get(task_id)["status"] in GATES:
            break
    task = client.get(task_id)
    code = _print_task(task, as_json)
    if task["status"] in GATES:
        print(
            f"waiting for approval: errand task approve {task_id} "
            f"--{'plan' if task['status'] == 'plan_review' else 'diff'}",
            file=sys.stderr,
        )
        return EXIT_GATE
    return code


def _watch(client: Client, task_id: str) -> int:
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
    return _print_task(client.get(task_id), False)


def _print_task(task: TaskJson, as_json: bool) -> int:
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
        if task.get("audio"):
            print(f"  audio: {task['audio']['path']}")
        if task.get("error"):
            print(f"  error: {task['error']['message']}")
    return EXIT_FAILED if task["status"] in ("failed", "cancelled") else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
