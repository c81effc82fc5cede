"""Server-Sent Events framing (pure)."""

from __future__ import annotations

import json
from typing import Protocol

from shared.domain import TERMINAL, Event, EventKind

RETRY_MS = 2000
HEARTBEAT_S = 15.0


def frame(event: Event) -> bytes:
    payload = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind.value}\ndata: {payload}\n\n".encode()


def preamble() -> bytes:
    return f"retry: {RETRY_MS}\n\n".encode()


def heartbeat() -> bytes:
    return b": ping\n\n"


def ends_stream(event: Event, store: EventReader | None = None) -> bool:
    """The stream closes after the task reaches a terminal status. A task can be retried after
    it ended, so with `store` an ended status closes it only if no event follows it."""
    if not _terminal(event):
        return False
    return store is None or not store.read_events(event.task_id, event.id, limit=1)


class EventReader(Protocol):
    def read_events(self, task_id: str | None, after: int = 0, limit: int = 500) -> list[Event]: ...


def _terminal(event: Event) -> bool:
    if event.kind != EventKind.STATUS:
        return False
    status = event.data.get("status")
    return isinstance(status, str) and status in {s.value for s in TERMINAL}


def parse_cursor(header: str | None, query: str | None) -> int:
    """Last-Event-ID (set by EventSource on reconnect) wins over ?after=."""
    for raw in (header, query):
        if raw:
            try:
                return max(0, int(raw.strip()))
            except ValueError:
                continue
    return 0
