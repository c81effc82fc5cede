"""Server-Sent Events framing and stream rules (no IO)."""

from __future__ import annotations

import json
import re

from shared.domain import TERMINAL, Event, EventKind, Task, now
from shared.errors import InvalidInput

RETRY_MS = 2000
HEARTBEAT_S = 15.0
SETTLE_S = 1.0
BATCH = 500  # events read per store query
MAX_CURSOR = 2**63 - 1  # the largest integer SQLite (and Firestore) store
_DIGITS = re.compile(r"[0-9]{1,19}")


def frame(event: Event) -> bytes:
    payload = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind.value}\ndata: {payload}\n\n".encode()


def preamble() -> bytes:
    return f"retry: {RETRY_MS}\n\n".encode()


def heartbeat() -> bytes:
    return b": ping\n\n"


def ends_stream(event: Event) -> bool:
    """The stream closes after the task reaches a terminal status."""
    if event.kind != EventKind.STATUS:
        return False
    status = event.data.get("status")
    return isinstance(status, str) and status in {s.value for s in TERMINAL}


def parse_cursor(header: str | None, query: str | None) -> int:
    """Last-Event-ID (set by EventSource on reconnect) wins over ?after=. Raises InvalidInput
    for anything but a whole number from 0 to MAX_CURSOR: a cursor the store cannot hold must
    not cut the stream later."""
    for name, raw in (("Last-Event-ID", header), ("after", query)):
        text = (raw or "").strip()
        if not text:
            continue
        if not _DIGITS.fullmatch(text) or int(text) > MAX_CURSOR:
            raise InvalidInput(
                f"{name} must be an event id, a whole number from 0 to {MAX_CURSOR}; "
                f"got {text[:40]!r}. Resume with the id of the last event you received"
            )
        return int(text)
    return 0


def finished(task: Task, grace_s: float = SETTLE_S) -> bool:
    """Whether a stream that has sent every stored event should end: the task is terminal and
    settled. The final status event is appended just after the task is saved, so a task that
    turned terminal moments ago may still have it coming."""
    return task.status in TERMINAL and (now() - task.updated_at).total_seconds() >= grace_s
