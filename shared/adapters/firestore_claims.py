"""Exclusive claims and append-only chains on Firestore, built on the one primitive whose
exclusivity both the real service and @firestore-emulator/server guarantee: `create()`, a write
with an exists=false precondition. Exactly one of many racing creates of a document succeeds.

Transactions would do the same on the real service, but the emulator detects no transaction
conflicts (two racing transactions both commit) and applies a batch's writes one by one, so a
design resting on them could not be tested here. Update-time preconditions are ignored by the
emulator too. Hence:

- a claim (a webhook delivery, a one-time code, a quota slot) is a document created once;
- a running total (a budget) is a chain of entries `.../entries/{seq}`, each holding the total
  after it: an append reads the newest entry and creates the next one, so two appends from
  the same newest entry cannot both succeed — the loser reads again. The chain is a
  linearizable counter with a check before each step, and a busy total writes new documents,
  never one hot document."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from shared.errors import Conflict

_CHAIN_RETRIES = 500  # each retry means another writer's append went through


def doc_id(*parts: object) -> str:
    """A document id from parts that may hold '/' (repositories) or other reserved text."""
    return ":".join(quote(str(p), safe="@-_.") for p in parts)


def create(ref: Any, fields: Mapping[str, Any]) -> bool:
    """Creates `ref`; False when it exists (someone else's claim)."""
    from google.api_core import exceptions

    try:
        ref.create(dict(fields))
    except exceptions.AlreadyExists:
        return False
    return True


def seq_id(seq: int) -> str:
    return f"{seq:012d}"  # zero-padded: document-name order is chain order


class Chain:
    """An append-only running total under `ref` (a document whose `entries` subcollection holds
    the chain). Totals are integers (e.g. nano-dollars), so sums never drift."""

    def __init__(self, ref: Any) -> None:
        self._entries = ref.collection("entries")

    def head(self) -> tuple[int, int]:
        """(seq, total) of the newest entry; (-1, 0) for an empty chain."""
        newest = list(self._entries.order_by("seq", direction="DESCENDING").limit(1).stream())
        if not newest:
            return -1, 0
        return int(newest[0].get("seq")), int(newest[0].get("total"))

    def append(
        self,
        delta: int,
        fields: Mapping[str, Any],
        refuse: Callable[[int], None] | None = None,
    ) -> int:
        """Appends `delta` to the total and returns the new total; `refuse(total)` runs against
        the total the entry builds on and raises to stop the append."""
        for _ in range(_CHAIN_RETRIES):
            seq, total = self.head()
            if refuse is not None:
                refuse(total)
            entry = {**fields, "seq": seq + 1, "total": total + delta, "delta": delta}
            if create(self._entries.document(seq_id(seq + 1)), entry):
                return total + delta
        raise Conflict("too many concurrent writers on one running total; retry in a moment")

    def entries(self) -> list[Any]:
        return list(self._entries.order_by("seq").stream())
