"""How a task looks in the terminal: its plan, diff, test verdict and spoken summary, with rich
(colour only on a terminal; NO_COLOR is honoured by rich)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from shared.client import TaskJson

STATUS_STYLE = {
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "yellow",
    "plan_review": "bold magenta",
    "diff_review": "bold magenta",
}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)  # the terminal wraps


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "bold cyan"))


def counts_words(counts: dict[str, int] | None) -> str:
    if not counts:
        return "not run"
    parts = [f"{counts.get(k, 0)} {k}" for k in ("passed", "failed", "errors", "skipped")]
    return ", ".join(p for p in parts if not p.startswith("0 ") or p.endswith("passed"))


def verdict_view(tests: dict[str, Any]) -> list[RenderableType]:
    """The test results in words: before and after, and what changed between them."""
    if tests.get("suite_found") is False:
        out: list[RenderableType] = [
            Text("Tests: none in the repository — nothing of its own verified the change")
        ]
        if tests.get("check_command"):
            code = tests.get("check_exit_code")
            outcome = "not run" if code is None else f"exit code {code}"
            out.append(
                Text(f"  a check the model proposed: `{tests['check_command']}` ({outcome})")
            )
        return out
    if not tests.get("command"):
        return []
    out = [
        Text.assemble(("Tests", "bold"), f" (`{tests['command']}`)"),
        Text(f"  before the change: {counts_words(tests.get('baseline'))}"),
    ]
    if tests.get("after") is not None:
        out.append(Text(f"  after the change:  {counts_words(tests['after'])}"))
        failing = tests.get("newly_failing") or []
        verdict = (
            Text(f"  {len(failing)} test(s) fail because of the change", style="bold red")
            if failing
            else Text("  no test fails because of the change", style="green")
        )
        out.append(verdict)
    labels = {
        "newly_failing": ("newly failing", "red"),
        "disappeared": ("no longer run", "yellow"),
        "newly_passing": ("fixed by the change", "green"),
        "pre_existing": ("failing before and after", "yellow"),
        "flaky": ("flaky (failed, then passed on a rerun)", "yellow"),
    }
    for key, (label, style) in labels.items():
        names = tests.get(key) or []
        if names:
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            out.append(Text(f"  {label}: {shown}", style=style))
    for key in ("baseline_note", "after_note"):
        if tests.get(key):
            out.append(Text(f"  note: {tests[key]}", style="dim"))
    return out


def plan_view(plan: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = [Text.assemble(("Plan: ", "bold"), plan["summary"])]
    for i, step in enumerate(plan["steps"], 1):
        out.append(Text.assemble(f"  {i}. ", (step["title"], "bold")))
        if step.get("files"):
            out.append(Text(f"     files: {', '.join(step['files'])}", style="cyan"))
        for line in (step.get("details") or "").splitlines():
            out.append(Text(f"     {line}", style="dim"))
    return out


def split_diff(diff: str) -> list[tuple[str, int, int, str]]:
    """(file, lines added, lines removed, its part of the diff) for each file of a git diff."""
    files: list[tuple[str, int, int, str]] = []
    chunk: list[str] = []
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git ") and chunk:
            files.append(_file_stats(chunk))
            chunk = []
        chunk.append(line)
    if chunk:
        files.append(_file_stats(chunk))
    return files


def _file_stats(lines: list[str]) -> tuple[str, int, int, str]:
    name = lines[0].rstrip("\n").split(" b/", 1)[-1] if lines[0].startswith("diff --git") else "?"
    body = [ln for ln in lines if not ln.startswith(("+++", "---"))]
    added = sum(1 for ln in body if ln.startswith("+"))
    removed = sum(1 for ln in body if ln.startswith("-"))
    return name, added, removed, "".join(lines)


def diff_view(task: TaskJson) -> list[RenderableType]:
    files = split_diff(task.get("diff") or "")
    if not files:
        return []
    added = sum(f[1] for f in files)
    removed = sum(f[2] for f in files)
    out: list[RenderableType] = [
        Text.assemble(
            ("Diff: ", "bold"),
            f"{len(files)} file(s), ",
            (f"+{added}", "green"),
            " ",
            (f"-{removed}", "red"),
        )
    ]
    for name, plus, minus, text in files:
        out.append(
            Text.assemble(
                "  ", (name, "bold"), "  ", (f"+{plus}", "green"), " ", (f"-{minus}", "red")
            )
        )
        out.append(Syntax(text.rstrip("\n"), "diff", theme="ansi_dark", background_color="default"))
    conf = task.get("conformance") or {}
    if conf.get("unplanned_files"):
        out.append(
            Text(f"  ! files the plan did not name: {', '.join(conf['unplanned_files'])}", "yellow")
        )
    if conf.get("untouched_steps"):
        out.append(
            Text(f"  ! plan steps with no change: {', '.join(conf['untouched_steps'])}", "yellow")
        )
    return out


def summary_view(task: TaskJson) -> list[RenderableType]:
    audio = task.get("audio")
    if not audio:
        return []
    where = audio.get("path") or audio.get("url")
    return [
        Text.assemble(("Spoken summary", "bold"), f" ({audio.get('duration_s', 0):.0f} s): "),
        Text(f"  {audio.get('transcript', '')}", style="italic"),
        Text(f"  audio: {where}"),
        Text(f"  play it: ffplay -nodisp -autoexit {where}   (or open it in a browser)", "dim"),
    ]


def next_step(task: TaskJson) -> str:
    tid, status = task["id"], task["status"]
    if status == "plan_review":
        return (
            f"approve: errand task approve {tid} --plan   (edited: --plan-file FILE.json)\n"
            f"reject:  errand task reject {tid} --feedback TEXT"
        )
    if status == "diff_review":
        return (
            f"approve: errand task approve {tid} --diff\n"
            f"changes: errand task request-changes {tid} --feedback TEXT\n"
            f"the raw diff: errand task diff {tid}"
        )
    if status in ("failed", "cancelled"):
        return f"run it again: errand task retry {tid}   (or --from-start)"
    if status != "completed":
        return f"follow it: errand task watch {tid}"
    return ""


def task_view(task: TaskJson) -> Group:
    parts: list[RenderableType] = [
        Text.assemble((task["id"], "bold"), "  ", status_text(task["status"])),
        Text(f"  repo: {task['repo']}  base: {task.get('base_branch') or '(default)'}"),
        Text(f"  task: {_first_line(task['prompt'])}"),
        Text(f"  model: {task['model']}  cost: {_cost(task)}"),
    ]
    if task.get("branch"):
        parts.append(Text(f"  branch: {task['branch']}"))
    if task.get("pr_url"):
        parts.append(Text(f"  change request: {task['pr_url']}", style="bold"))
    if task.get("error"):
        err = task["error"]
        parts.append(Text(f"  error ({err['code']}): {err['message']}", style="red"))
    if task.get("feedback"):
        fb = task["feedback"]
        parts.append(Text(f"  reviewer feedback on the {fb['kind']}: {fb['text']}", "magenta"))
    if task.get("plan"):
        parts += ["", *plan_view(task["plan"])]
    verdict = verdict_view(task.get("tests") or {})
    if verdict:
        parts += ["", *verdict]
    diff = diff_view(task)
    if diff:
        parts += ["", *diff]
    summary = summary_view(task)
    if summary:
        parts += ["", *summary]
    return Group(*parts)


def print_task(task: TaskJson, as_json: bool) -> None:
    if as_json:
        print_json(task)
        return
    out = console()
    out.print(task_view(task))
    hint = next_step(task)
    if hint:
        console(stderr=True).print(Text(hint, style="dim"))


def print_list(tasks: list[TaskJson]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("id", "status", "repo", "task", "created"):
        table.add_column(col, overflow="fold" if col == "task" else "ellipsis")
    for t in tasks:
        table.add_row(
            t["id"],
            status_text(t["status"]),
            escape(t["repo"]),
            escape(_first_line(t["prompt"])[:60]),
            str(t.get("created_at", ""))[:19].replace("T", " "),
        )
    if not tasks:
        console(stderr=True).print("no tasks yet: errand task create --repo PATH --prompt TEXT")
        return
    console().print(table)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] + (" …" if len(lines) > 1 else "") if lines else ""


def _cost(task: TaskJson) -> str:
    usage = task.get("usage") or {}
    tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    return f"${usage.get('cost_usd', 0.0):.4f} ({tokens:,} tokens)"


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
