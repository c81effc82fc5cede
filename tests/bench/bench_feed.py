"""Firestore feed shards on the emulator (@firestore-emulator/server): what raising the shard
count (32 → 1,024, docs/capacity.md) costs the listeners that wake event streams.

For each shard count, side by side in one run, on a feed whose every shard already exists (a
deployment in its steady state):
- `cold_ms`: a fresh store's first `latest_event_id` — starting the `on_snapshot` listener on
  the whole `feed` collection and receiving its first snapshot (every shard read once);
- `full_read_ms`: reading every shard with one query (what each wait cost before the listener
  kept the newest id);
- `wake_*`: listener delay, from `append_event` in one client to a waiter in another client
  returning from `wait_for_events`.

The emulator's figures are not Firestore's: it re-reads the whole collection for every listener
on every write, which Firestore does not, so its delays grow with the shard count whatever the
listeners. What does carry over is the client's own work: `client_sort_ms` is the CPU the Python
client spends on every snapshot it delivers re-sorting the listener's whole result
(`Watch.push`), for one listener over every shard against one listener group.
`python -m tests.bench.bench_feed` prints the figures as JSON (needs scripts/setup.sh)."""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from shared import gcp_emulators
from shared.adapters.firestore_store import FEED_GROUP, FEED_SHARDS, FirestoreStore
from shared.domain import EventKind
from shared.gcp_settings import GcpSettings

COUNTS = (32, FEED_SHARDS)
WAKES = 30


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


def _fill(project: str, shards: int) -> None:
    """Every shard written once, as after a while in production."""
    from google.cloud import firestore

    db = firestore.Client(project=project)
    for start in range(0, shards, 400):  # a batch takes at most 500 writes
        batch = db.batch()
        for n in range(start, min(start + 400, shards)):
            shard = db.collection("feed").document(f"{n:04d}")
            batch.set(shard, {"at": None, "tie": 0, "g": n // FEED_GROUP})
        batch.commit()
    db.close()


def _measure(settings: GcpSettings, shards: int) -> dict[str, Any]:
    project = f"bench-{shards}-{secrets.token_hex(3)}"
    at = settings.model_copy(update={"project": project, "feed_shards": shards})
    _fill(project, shards)
    writer = FirestoreStore(at)
    writer.append_event("t_warm", EventKind.LOG, {"line": "warm"})
    reader = FirestoreStore(at)
    from google.cloud import firestore

    raw = firestore.Client(project=project)
    try:
        started = time.perf_counter()
        reader.latest_event_id()
        cold_ms = (time.perf_counter() - started) * 1000
        reads = []
        for _ in range(10):
            started = time.perf_counter()
            list(raw.collection("feed").stream())
            reads.append((time.perf_counter() - started) * 1000)
        wakes = [_wake(writer, reader) for _ in range(WAKES)]
    finally:
        raw.close()
        reader.close()
        writer.close()
    return {
        "shards": shards,
        "cold_ms": round(cold_ms, 1),
        "full_read_ms": round(statistics.median(reads), 1),
        "wake_p50_ms": _pct(wakes, 0.5),
        "wake_p95_ms": _pct(wakes, 0.95),
        "wake_max_ms": round(max(wakes), 2),
    }


def _wake(writer: FirestoreStore, reader: FirestoreStore) -> float:
    seen = reader.latest_event_id()
    woke: list[float] = []
    ready = threading.Event()

    def wait() -> None:
        ready.set()
        if reader.wait_for_events(seen, 5.0):
            woke.append(time.perf_counter())

    waiter = threading.Thread(target=wait)
    waiter.start()
    ready.wait()
    time.sleep(0.005)  # the waiter is inside wait_for_events
    started = time.perf_counter()
    writer.append_event("t_bench", EventKind.LOG, {"line": "x"})
    waiter.join()
    if not woke:
        raise RuntimeError("the waiter was not woken within 5 s")
    return max(0.0, (woke[0] - started) * 1000)


def _client_sort_ms(shards: int) -> float:
    """What `Watch.push` does per delivered snapshot: sort the listener's documents with the
    query's comparator (a private helper of the client; this is a measurement, not a use)."""
    import functools

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore
    from google.cloud.firestore_v1.document import DocumentSnapshot

    db = firestore.Client(project="bench", credentials=AnonymousCredentials())
    feed = db.collection("feed")
    query = feed.where(filter=firestore.FieldFilter("g", "==", 0))
    docs = [
        DocumentSnapshot(feed.document(f"{n:04d}"), {"g": 0}, True, None, None, None)
        for n in range(shards)
    ]
    key = functools.cmp_to_key(query._comparator)
    started = time.perf_counter()
    for _ in range(20):
        sorted(docs, key=key)
    return round((time.perf_counter() - started) / 20 * 1000, 2)


def main() -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    emulator = gcp_emulators.start_firestore(logs)
    os.environ.update(emulator.env)  # the Firestore client finds the emulator there
    try:
        settings = GcpSettings(project="bench")
        rows = [_measure(settings, n) for n in COUNTS]
    finally:
        emulator.stop()
    base, new = rows
    return {
        "client_sort_ms": {
            f"one listener over {FEED_SHARDS}": _client_sort_ms(FEED_SHARDS),
            f"one group of {FEED_GROUP}": _client_sort_ms(FEED_GROUP),
        },
        "by_shards": rows,
        "wake_p50_ratio": round(new["wake_p50_ms"] / max(base["wake_p50_ms"], 0.01), 2),
        "cold_ratio": round(new["cold_ms"] / max(base["cold_ms"], 0.01), 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
