"""`errand task ...`: create, follow, review, approve, retry and cancel tasks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from shared.cli.common import EXIT_CODES_HELP, EXIT_OK, absolute_repo, connect
from shared.cli.follow import follow
from shared.cli.render import print_json, print_list, print_task
from shared.client import Client, TaskJson
from shared.domain import Plan
from shared.errors import InvalidInput
from shared.services import CreateTask
from shared.settings import Settings

Action = Callable[[argparse.Namespace, Client, bool], int]


def register(sub: Any) -> None:
    group = sub.add_parser(
        "task",
        help="create, follow, review and approve tasks",
        description="Create a task, follow it live, review its plan and diff, approve or "
        "send them back, retry it if it failed.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    task = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    def add(name: str, action: Action, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = task.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=run, task_action=action)
        return p

    c = add("create", create, "start a task on a repository")
    c.add_argument(
        "--repo", required=True, help="a local git repository (relative to here) or a git URL"
    )
    c.add_argument("--prompt", required=True, help="what to change; '-' reads it from stdin")
    c.add_argument("--branch", default="", help="the base branch (default: the repository's)")
    c.add_argument("--model", default="", help="a litellm model name (default: ERRAND_MODEL)")
    c.add_argument(
        "--auto-approve", action="store_true", help="skip the plan and diff gates (no review)"
    )
    _follow_options(c, "follow the task live until it ends or stops at a gate")

    s = add("show", show, "show a task: its plan, diff, test verdict and spoken summary")
    s.add_argument("id", help="the task id (t_...)")
    s.add_argument("--json", action="store_true", help="print the task as the API returns it")

    d = add("diff", diff, "print the task's raw diff (for pipes: `| git apply`, `| less`)")
    d.add_argument("id", help="the task id (t_...)")

    w = add("watch", watch, "follow a task live; stops at a gate and says how to go on")
    w.add_argument("id", help="the task id (t_...)")
    w.add_argument("--json", action="store_true", help="print each event as a JSON line")

    a = add("approve", approve, "approve the plan or the diff a task waits on")
    a.add_argument("id", help="the task id (t_...)")
    which = a.add_mutually_exclusive_group()
    which.add_argument("--plan", action="store_true", help="approve the plan (at plan_review)")
    which.add_argument("--diff", action="store_true", help="approve the diff (at diff_review)")
    a.add_argument(
        "--plan-file",
        metavar="FILE",
        help="approve this edited plan instead (JSON like the plan in `task show --json`); "
        "implies --plan",
    )
    _follow_options(a, "follow the task after approving it (always so without a server)")

    r = add("reject", reject, "reject the plan: the model plans again with your feedback")
    r.add_argument("id", help="the task id (t_...)")
    r.add_argument("--feedback", required=True, help="what is wrong with the plan; '-' = stdin")
    _follow_options(r, "follow the new planning round (always so without a server)")

    rc = add(
        "request-changes", request_changes, "send the diff back: a new round with your feedback"
    )
    rc.add_argument("id", help="the task id (t_...)")
    rc.add_argument("--feedback", required=True, help="what to change; '-' reads it from stdin")
    _follow_options(rc, "follow the new round (always so without a server)")

    rt = add("retry", retry, "run a failed or cancelled task again, from where it stopped")
    rt.add_argument("id", help="the task id (t_...)")
    rt.add_argument(
        "--from-start", action="store_true", help="start over from the clone (a new plan too)"
    )
    _follow_options(rt, "follow the retried task (always so without a server)")

    ls = add("list", list_tasks, "list recent tasks")
    ls.add_argument("--json", action="store_true", help='print {"tasks": [...]} as the API does')
    ls.add_argument("--limit", type=int, default=50, help="how many (default 50)")

    x = add("cancel", cancel, "cancel a running task (or one waiting at a gate)")
    x.add_argument("id", help="the task id (t_...)")
    x.add_argument("--json", action="store_true", help="print the task as JSON")


def _follow_options(p: argparse.ArgumentParser, wait_help: str) -> None:
    p.add_argument("--wait", action="store_true", help=wait_help)
    p.add_argument("--json", action="store_true", help="print the task as JSON (no live view)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    client, stack = connect(settings)
    try:
        code: int = args.task_action(args, client, stack is not None)
        return code
    finally:
        if stack is not None:
            stack.stop()


def create(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    req = CreateTask(
        repo=absolute_repo(args.repo),
        prompt=sys.stdin.read() if args.prompt == "-" else args.prompt,
        branch=args.branch,
        model=args.model,
        auto_approve=args.auto_approve,
    )
    task = client.create(req)
    if args.wait:
        print(f"created {task['id']}", file=sys.stderr, flush=True)
        return follow(client, task["id"], as_json=args.json, in_process=in_process)
    if in_process:
        print(
            f"{task['id']} queued; no server is running, so it runs while `errand task watch "
            f"{task['id']}` follows it (or when `errand up` starts)",
            file=sys.stderr,
        )
    print_task(task, args.json)
    return EXIT_OK


def show(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    print_task(client.get(args.id), args.json)
    return EXIT_OK


def diff(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    task = client.get(args.id)
    if not task.get("diff"):
        raise InvalidInput(
            f"task {args.id} has no diff yet (it is {task['status']}); the diff exists once "
            "the task has been verified"
        )
    sys.stdout.write(task["diff"])
    sys.stdout.flush()
    return EXIT_OK


def list_tasks(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    if not 1 <= args.limit <= 500:
        raise InvalidInput("--limit must be between 1 and 500")
    tasks = client.list()[: args.limit]
    if args.json:
        print_json({"tasks": tasks})
    else:
        print_list(tasks)
    return EXIT_OK


def watch(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    client.get(args.id)  # an unknown id is an error before any stream opens
    return follow(client, args.id, as_json=False, events_as_json=args.json, in_process=in_process)


def approve(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    if args.plan_file:
        if args.diff:
            raise InvalidInput("--plan-file edits a plan: use it with --plan, not --diff")
        args.plan = True
    if not (args.plan or args.diff):
        raise InvalidInput("say what to approve: --plan (or --plan-file FILE) or --diff")
    if args.diff:
        task = client.approve_diff(args.id)
    else:
        task = client.approve_plan(args.id, read_plan(args.plan_file) if args.plan_file else None)
    return _after_action(args, client, in_process, task)


def reject(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    task = client.reject_plan(args.id, _feedback(args.feedback))
    return _after_action(args, client, in_process, task)


def request_changes(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    task = client.request_changes(args.id, _feedback(args.feedback))
    return _after_action(args, client, in_process, task)


def retry(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    task = client.retry(args.id, args.from_start)
    return _after_action(args, client, in_process, task)


def cancel(args: argparse.Namespace, client: Client, in_process: bool) -> int:
    print_task(client.cancel(args.id), args.json)
    return EXIT_OK


def _after_action(
    args: argparse.Namespace, client: Client, in_process: bool, task: TaskJson
) -> int:
    """Without a server nothing else would run the task: follow it here, as --wait does."""
    if args.wait or in_process:
        if in_process and not args.wait:
            print(
                f"{task['id']} is {task['status']}; no server is running, so it runs here "
                "(Ctrl-C leaves it paused)",
                file=sys.stderr,
                flush=True,
            )
        return follow(
            client, task["id"], as_json=args.json, in_process=in_process, since=task["updated_at"]
        )
    print_task(task, args.json)
    return EXIT_OK


def _feedback(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


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
