"""Server-Sent Events framing (pure)."""

from __future__ import annotations

import json

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


def ends_stream(event: Event) -> bool:
    """The stream closes after the task reaches a terminal status."""
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
