"""Showing a task's events as they come: a live panel on a terminal, plain lines in a pipe, JSON
lines for machines. Output arrives in chunks cut anywhere; every view shows whole lines."""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from datetime import datetime
from typing import Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from shared.cli.render import status_text
from shared.domain import Event

TAIL_LINES = 12
PLAIN_PROGRESS_EVERY_S = 3.0


class View(Protocol):
    def event(self, event: Event) -> None: ...
    def close(self) -> None: ...


class Lines:
    """Reassembles whole lines from output chunks."""

    def __init__(self) -> None:
        self.partial = ""

    def feed(self, text: str) -> list[str]:
        text = self.partial + text
        *whole, self.partial = text.split("\n")
        return [line.rstrip("\r") for line in whole]

    def flush(self) -> list[str]:
        rest, self.partial = self.partial, ""
        return [rest] if rest else []


def describe(event: Event) -> str | None:
    """One line for the events every view prints the same way (None: not such an event)."""
    d, kind = event.data, event.kind.value
    if kind == "status":
        line = f"== {d.get('status')}"
        err = d.get("error")
        if isinstance(err, dict) and err.get("message"):
            line += f": {err['message']}"
        return line + (" (retry)" if d.get("retry") else "")
    if kind == "log":
        return str(d.get("message", ""))
    if kind == "tool":
        return f"-> {d.get('tool')} {_short(str(d.get('arguments', '')), 160)}"
    if kind == "test_results":
        counts = d.get("counts")
        if isinstance(counts, dict):
            shown = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            return f"tests ({d.get('phase')}): {shown or 'none ran'}"
    if kind == "diff_ready":
        files = d.get("files")
        return f"diff ready: {len(files) if isinstance(files, list) else '?'} file(s)"
    if kind == "pr_created":
        return f"change request: {d.get('url') or d.get('pr_url') or d}"
    if kind == "audio_ready":
        return f"spoken summary ready: {d.get('path') or d.get('url') or ''}"
    if kind == "plan_ready":
        return "plan edited by the reviewer" if d.get("edited") else "plan ready"
    return None


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _middle(text: str, n: int) -> str:
    """Long commands keep their start and their end (where the program and its arguments are)."""
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    head = n // 4
    return text[:head] + "…" + text[len(text) - (n - head - 1) :]


def _stamp(event: Event) -> str:
    return datetime.fromtimestamp(event.created_at.timestamp()).strftime("%H:%M:%S")


class PlainView:
    """Line by line, for pipes and logs: every line stamped, output lines whole."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self._out = out
        self._lines = Lines()
        self._last_progress = 0.0

    def event(self, event: Event) -> None:
        if event.kind.value == "output":
            self._output(event)
            return
        self._flush_output(event)
        line = describe(event)
        if line is not None:
            for i, part in enumerate(line.splitlines() or [""]):
                self._print(f"[{_stamp(event)}] {'   ' if i else ''}{part}")

    def _output(self, event: Event) -> None:
        text = str(event.data.get("text", ""))
        skipped = event.data.get("skipped_bytes")
        if skipped:
            self._print(f"[{_stamp(event)}]    | [... {skipped} bytes of output skipped ...]")
        for line in self._lines.feed(text):
            self._print(f"[{_stamp(event)}]    | {line}")
        elapsed = event.data.get("elapsed_s", 0)
        if (
            not text
            and isinstance(elapsed, int | float)
            and (
                elapsed - self._last_progress >= PLAIN_PROGRESS_EVERY_S
                or elapsed < self._last_progress
            )
        ):
            self._last_progress = elapsed
            command = _middle(str(event.data.get("command", "")), 120)
            self._print(f"[{_stamp(event)}]    ... {command} running for {elapsed:.0f} s")

    def _flush_output(self, event: Event) -> None:
        for line in self._lines.flush():
            self._print(f"[{_stamp(event)}]    | {line}")
        self._last_progress = 0.0

    def _print(self, line: str) -> None:
        print(line, file=self._out, flush=True)

    def close(self) -> None:
        for line in self._lines.flush():
            self._print(f"   | {line}")


class JsonView:
    """One JSON object per event, as the API streams them."""

    def event(self, event: Event) -> None:
        print(json.dumps(event.model_dump(mode="json")), flush=True)

    def close(self) -> None:
        pass


class LiveView:
    """A panel redrawn in place: status, current step, elapsed time, cost and the last lines of
    output; status changes and log messages stay above it in the scrollback."""

    def __init__(self, out: Console, task_id: str) -> None:
        self._console = out
        self._task_id = task_id
        self._status = "…"
        self._started = time.monotonic()
        self._stage_started = self._started
        self._step = ""
        self._steps = 0
        self._cost = 0.0
        self._command = ""
        self._command_elapsed = 0.0
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lines = Lines()
        self._live = Live(
            get_renderable=self._panel, console=out, refresh_per_second=4, transient=True
        )
        self._live.start()

    def event(self, event: Event) -> None:
        kind, d = event.kind.value, event.data
        if kind == "output":
            self._command = str(d.get("command", self._command))
            elapsed = d.get("elapsed_s")
            self._command_elapsed = float(elapsed) if isinstance(elapsed, int | float) else 0.0
            self._tail.extend(self._lines.feed(str(d.get("text", ""))))
            return
        if kind == "cost":
            cost = d.get("cost_usd")
            self._cost = float(cost) if isinstance(cost, int | float) else self._cost
            return
        if kind == "status":
            self._status = str(d.get("status", self._status))
            self._stage_started = time.monotonic()
            self._step, self._steps, self._command = "", 0, ""
        if kind == "tool":
            self._steps += 1
            self._step = f"{d.get('tool')} {_short(str(d.get('arguments', '')), 100)}"
        if kind == "log" and str(d.get("message", "")).startswith("$ "):
            self._tail.extend(self._lines.flush())
            self._command, self._command_elapsed = str(d["message"])[2:], 0.0
            return
        line = describe(event)
        if line is not None:
            style = "bold" if kind == "status" else ("cyan" if kind == "tool" else "")
            for part in line.splitlines() or [""]:
                self._console.print(Text(f"[{_stamp(event)}] {part}", style=style))

    def _panel(self) -> Group:
        now = time.monotonic()
        head = Text.assemble(
            (self._task_id, "bold"),
            "  ",
            status_text(self._status),
            f"  {_clock(now - self._stage_started)} in stage, {_clock(now - self._started)} total",
            f"  cost ${self._cost:.4f}",
        )
        rows: list[Text] = [head]
        if self._step:
            rows.append(Text(f"step {self._steps}: {self._step}", style="cyan"))
        if self._command:
            rows.append(
                Text(f"$ {_middle(self._command, 110)}  ({self._command_elapsed:.0f} s)", "yellow")
            )
        tail = [*self._tail, *([self._lines.partial] if self._lines.partial else [])]
        rows += [Text(f"  {line[:160]}", style="dim") for line in tail[-TAIL_LINES:]]
        return Group(*rows)

    def close(self) -> None:
        self._live.stop()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"
