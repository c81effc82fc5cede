"""The Firestore store's change feed: which event is newest, and waking whoever waits for one.

Each event also writes one of FEED_SHARDS `feed/{n}` documents (at random) with its id, so no
document takes more than ~1 write/s: 1,024 shards keep each under Firestore's guideline up to
~1,000 events/s over the whole deployment (docs/capacity.md: 0.085/s per shard at the 10,000
tasks/day peak).

Listeners: one `on_snapshot` query per group of FEED_GROUP shards (`g == k`, 32 queries). The
Python client re-sorts a listener's whole result with a Python comparator on every snapshot it
delivers (google.cloud.firestore_v1.watch.Watch.push): one listener over 1,024 shards costs
~26-46 ms of CPU per event here, a group of 32 ~0.6 ms, what the old 32-shard feed cost
(tests/bench/bench_feed.py). Their first snapshots read every shard once; after that the newest
id is known without a read."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime
from typing import Any

from shared.adapters import firestore_docs as docs
from shared.adapters.change_feed import ChangeFeed

FEED_SHARDS = 1024
FEED_GROUP = 32  # shards per listener query
_SYNC_WAIT_S = 5.0  # how long `latest` waits for the listeners before reading the shards


class FeedShards:
    """Thread-safe. The listeners start with the first `latest` or wait, and stop on `close`."""

    def __init__(self, db: Any, fs: Any, shards: int) -> None:
        self._db, self._fs = db, fs
        self._shards = shards
        self._groups = -(-shards // FEED_GROUP)
        self._lock = threading.Lock()
        self._watches: list[Any] = []
        self._current: set[int] = set()  # groups whose first snapshot arrived
        self._synced = threading.Event()  # ... all of them
        self._feed = ChangeFeed(0)

    def write(self, batch: Any, tie: int) -> None:
        """Adds the wake-up write of one event (committed with `batch`) to a random shard."""
        n = secrets.randbelow(self._shards)
        shard = self._db.collection("feed").document(f"{n:04d}")
        batch.set(shard, {"at": self._fs.SERVER_TIMESTAMP, "tie": tie, "g": n // FEED_GROUP})

    def published(self, event_id: int) -> None:
        """An event this process wrote: its own waiters need no listener to see it."""
        self._feed.publish(event_id)

    def latest(self) -> int:
        """The newest event id the listeners have seen: no read once their first snapshots
        are in. It trails commits by the listeners' delay (milliseconds), which callers
        tolerate: a cursor taken a little low only makes the next wait return at once. Exact
        but for one case: two events of one millisecond on one shard, the second with the
        lower tie, hide the first until the next event (a wake-up comes late)."""
        self._listen()
        if self._synced.wait(_SYNC_WAIT_S):
            return self._feed.latest
        # the listeners are slow to start (a cold connection): read the shards this once
        self._feed.publish(_newest(list(self._db.collection("feed").stream())))
        return self._feed.latest

    def wait(self, after: int, timeout_s: float) -> bool:
        self.latest()  # the listeners run and are in sync
        return self._feed.wait(after, timeout_s)

    async def wait_async(self, after: int, timeout_s: float) -> bool:
        self._listen()
        return await self._feed.wait_async(after, timeout_s)

    def close(self) -> None:
        with self._lock:
            watches, self._watches = self._watches, []
        for watch in watches:
            watch.unsubscribe()
        self._feed.close()

    def _listen(self) -> None:
        with self._lock:
            if self._watches:
                return
            feed = self._db.collection("feed")
            for k in range(self._groups):
                group = feed.where(filter=self._fs.FieldFilter("g", "==", k))
                self._watches.append(group.on_snapshot(self._on_group(k)))

    def _on_group(self, k: int) -> Any:
        def on_snapshot(snapshots: list[Any], changes: list[Any], read_time: datetime) -> None:
            # only the changed shards: all of the group's in its first snapshot, then the few
            # just written
            self._feed.publish(_newest([c.document for c in changes]))
            with self._lock:
                self._current.add(k)
                if len(self._current) == self._groups:
                    self._synced.set()

        return on_snapshot


def _newest(shards: list[Any]) -> int:
    ids = [docs.event_id(s.get("at"), int(s.get("tie"))) for s in shards if s.get("at")]
    return max(ids, default=0)
