"""Firestore layout helpers for FirestoreStore: event ids from commit timestamps, and JSON
text split across documents when it would not fit in one (Firestore's limit is 1 MiB).

Event ids. The Store port wants one increasing id across all tasks (a change-feed cursor). A
counter document would take a write per event from every task: one hot document for the whole
deployment. Instead an event's id comes from the time Firestore commits it: the event carries
`at = SERVER_TIMESTAMP` (millisecond precision, the commit's time) and a random `tie` in
[0, 999]; id = (at - 2025-01-01 in ms) * 1000 + tie. Commit timestamps only grow, and a read
that sees an event also sees every event committed before it, so a reader whose cursor has
passed a millisecond only misses events committed later in that same millisecond — which is
why readers never deliver events of a millisecond that has not ended yet (see
FirestoreStore.read_events). Ids stay below 2^53 until the 2300s, so browsers (JSON numbers)
read them exactly.

The trade-offs, all inside one millisecond: `tie` counts up per store instance (from a random
start, modulo 1000), so one writer's events keep their order unless the counter wraps between
two of them in the same millisecond (1 in 1000 of such pairs; Firestore commits take several
milliseconds, so one writer rarely has two in one); two writers' events in the same
millisecond are ordered arbitrarily (they were concurrent) and may share an id, which readers
deliver together, so no cursor skips one."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
TIE_SPAN = 1000
TIE_MAX = TIE_SPAN - 1
PART_CHARS = 240_000  # up to 4 bytes a character in UTF-8: under 1 MiB with room to spare
INLINE_CHARS = PART_CHARS


class Ties:
    """Per store instance: successive ties, so one writer's same-millisecond events stay in
    order. Thread-safe."""

    def __init__(self) -> None:
        self._next = secrets.randbelow(TIE_MAX + 1)
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            tie, self._next = self._next, (self._next + 1) % (TIE_MAX + 1)
            return tie


def millis(at: datetime) -> int:
    return (at.astimezone(UTC) - EPOCH) // timedelta(milliseconds=1)


def event_id(at: datetime, tie: int) -> int:
    return millis(at) * TIE_SPAN + tie


def id_floor(event_id: int) -> datetime:
    """The start of the millisecond an id belongs to (a query bound)."""
    return EPOCH + timedelta(milliseconds=max(event_id, 0) // TIE_SPAN)


def split(text: str) -> list[str]:
    """Parts of `text` for documents of their own; [] when it fits inline."""
    if len(text) <= INLINE_CHARS:
        return []
    return [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]


def part_id(index: int) -> str:
    return f"{index:06d}"  # zero-padded: document-name order is part order


def write_text(
    writer: Any,
    ref: Any,
    fields: dict[str, Any],
    text: str,
    version: int,
    *,
    create: bool = False,
    old_parts: int = 0,
) -> None:
    """Writes `fields` plus `text` into `ref` (inline) or into `ref/parts/*`, through a batch
    or a transaction, so the whole appears at once; `create` fails when `ref` exists. Parts
    carry `version`: a reader that finds parts of another version than the document raced a
    writer and reads again. Parts beyond the new text's (`old_parts` were stored) go."""
    parts = split(text)
    for index in range(len(parts), old_parts):
        writer.delete(ref.collection("parts").document(part_id(index)))
    if parts:
        fields = {**fields, "text": None, "parts": len(parts)}
        for index, chunk in enumerate(parts):
            writer.set(ref.collection("parts").document(part_id(index)), {"v": version, "t": chunk})
    else:
        fields = {**fields, "text": text, "parts": 0}
    if create:
        writer.create(ref, fields)
    else:
        writer.set(ref, fields)


def read_text(snapshot: Any, version: int, transaction: Any = None) -> str | None:
    """The text of a document written by write_text; None when its parts belong to another
    version (read the document again)."""
    count = int(snapshot.get("parts") or 0)
    if count == 0:
        return str(snapshot.get("text"))
    parts = snapshot.reference.collection("parts")
    chunks: list[str] = []
    for index in range(count):
        part = parts.document(part_id(index)).get(transaction=transaction)
        if not part.exists or part.get("v") != version:
            return None
        chunks.append(str(part.get("t")))
    return "".join(chunks)
