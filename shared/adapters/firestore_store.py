"""The Store on Firestore (`google-cloud-firestore`, imported lazily).

Layout:
    tasks/{task_id}                      version, status, created_at, the task as JSON text
    tasks/{task_id}/parts/{n}            the JSON of a task too large for one document
    tasks/{task_id}/events/{auto id}     at (commit time), tie, kind, data as JSON text
    tasks/{task_id}/events/{id}/parts/{n} a large event's data (a diff)
    feed/{shard}                         at, tie: the id of some recent event; g: its group
    leases/{task_id}                     the stage lease of a task (firestore_leases)
Every event goes to its task's subcollection, so a busy task writes many small documents,
never one hot document; with it, one of the feed's shards (chosen at random) takes the same
commit time, which is what waiters listen to (firestore_feed). Event ids are commit times
(firestore_docs).

Indexes (terraform): a composite index on `events` (at ASC, tie ASC), collection scope, for a
task's events in order; single-field indexes serve the rest (tasks by created_at, status and
updated_at, leases by expires_at, feed). Reading every task's events at once needs no
collection-group query (see _read_all_tasks).

Updates are compare-and-set inside a transaction: read the stored version, refuse when it is
not the caller's, write version+1. Firestore retries a transaction that lost a race; the retry
reads the new version and raises Conflict, so exactly one of many concurrent updates wins."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from pydantic import JsonValue

from shared.accounts import EffectiveLimits
from shared.adapters import firestore_docs as docs
from shared.adapters import firestore_tasks
from shared.adapters.firestore_feed import FEED_GROUP, FEED_SHARDS, FeedShards
from shared.adapters.firestore_leases import FirestoreLeases
from shared.domain import TERMINAL, Event, EventKind, Status, Task, TaskFilter, now
from shared.errors import ConfigError, Conflict, InvalidInput, NotFound
from shared.gcp_settings import GcpSettings

__all__ = ["FEED_GROUP", "FEED_SHARDS", "FirestoreStore"]
_READ_RETRIES = 5


class FirestoreStore(FirestoreLeases):
    """Implements `shared.ports.Store` and `Leases`, plus `wait_for_events_async` and `close` like
    SqliteStore. Thread-safe (the client is); `wait_for_events` is fed by the feed's
    `on_snapshot` listeners, started by the first waiter."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.project:
            raise ConfigError("ERRAND_STORE=firestore needs the project: set ERRAND_GCP_PROJECT")
        from google.cloud import firestore

        self._fs = firestore
        self._db = firestore.Client(project=settings.project, database=settings.firestore_database)
        self._feed = FeedShards(self._db, firestore, settings.feed_shards)
        self._ties = docs.Ties()

    # ------------------------------------------------------------------------ tasks

    def create_task(self, task: Task, quota: EffectiveLimits | None = None) -> Task:
        from google.api_core import exceptions

        ref = self._tasks().document(task.id)
        fields = self._task_fields(task)

        def create(transaction: Any) -> None:
            if quota is not None:  # counted in the same transaction as the insert
                firestore_tasks.check_quota(transaction, self._tasks(), self._read, task, quota)
            docs.write_text(
                transaction, ref, fields, task.model_dump_json(), task.version, create=True
            )

        try:
            self._in_transaction(create)
        except exceptions.AlreadyExists as exc:
            raise Conflict(
                f"a task with id {task.id!r} already exists; create it with a new id"
            ) from exc
        return task

    def _read(self, snapshot: Any) -> Task:
        text = docs.read_text(snapshot, int(snapshot.get("version")))
        return Task.model_validate_json(text) if text is not None else self.get_task(snapshot.id)

    def get_task(self, task_id: str) -> Task:
        for _ in range(_READ_RETRIES):
            snapshot = self._tasks().document(task_id).get()
            if not snapshot.exists:
                raise NotFound(f"no task {task_id!r}; list tasks to see the ids that exist")
            text = docs.read_text(snapshot, int(snapshot.get("version")))
            if text is not None:
                return Task.model_validate_json(text)
        raise Conflict(f"task {task_id} kept changing while it was read; read it again")

    def list_tasks(
        self, limit: int = 50, where: TaskFilter | None = None, owner: str | None = None
    ) -> list[Task]:
        _check_limit(limit)
        return firestore_tasks.listed(
            self._tasks(), self._read, limit, where or TaskFilter(), owner
        )

    def update_task(self, task: Task) -> Task:
        stored = task.model_copy(update={"version": task.version + 1, "updated_at": now()})
        ref = self._tasks().document(task.id)

        def compare_and_set(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFound(f"no task {task.id!r} to update; it may have been deleted")
            version = int(snapshot.get("version"))
            if version != task.version:
                raise Conflict(
                    f"task {task.id} changed since it was read (stored version {version}, "
                    f"given {task.version}); read it again and retry"
                )
            docs.write_text(
                transaction,
                ref,
                self._task_fields(stored),
                stored.model_dump_json(),
                stored.version,
                old_parts=int(snapshot.get("parts") or 0),
            )

        self._in_transaction(compare_and_set)
        return stored

    # ------------------------------------------------------------------------ events

    def append_event(self, task_id: str, kind: EventKind, data: dict[str, JsonValue]) -> Event:
        event = Event(id=0, task_id=task_id, kind=kind, data=data)  # validates before writing
        tie = self._ties.take()
        ref = self._tasks().document(task_id).collection("events").document()
        fields = {
            "task_id": task_id,
            "kind": event.kind.value,
            "created_at": event.created_at,
            "at": self._fs.SERVER_TIMESTAMP,
            "tie": tie,
        }
        batch = self._db.batch()
        docs.write_text(batch, ref, fields, json.dumps(event.data), 0)
        self._feed.write(batch, tie)
        results = batch.commit()
        # SERVER_TIMESTAMP is the commit time at millisecond precision
        event_id = docs.event_id(results[-1].update_time, tie)
        self._feed.published(event_id)
        return event.model_copy(update={"id": event_id})

    def read_events(self, task_id: str | None, after: int = 0, limit: int = 500) -> list[Event]:
        _check_limit(limit)
        if task_id is None:
            return self._read_all_tasks(after, limit)
        base = self._tasks().document(task_id).collection("events")
        query = (
            base.where(filter=self._fs.FieldFilter("at", ">=", docs.id_floor(after)))
            .order_by("at")
            .order_by("tie")
            .limit(limit + docs.TIE_SPAN)  # room for the cursor's own millisecond
        )
        while True:
            snapshots = query.get()
            pending = snapshots and _unfinished(snapshots)
            if not pending:
                break
            time.sleep(0.002)  # the newest millisecond may still gain events: let it end
        events: list[Event] = []
        for snapshot in snapshots:
            event = _event(snapshot)
            if event.id <= after:
                continue
            if len(events) >= limit and event.id != events[-1].id:
                break  # equal ids are delivered together, so no cursor skips one
            events.append(event)
        return events

    def _read_all_tasks(self, after: int, limit: int) -> list[Event]:
        """Events of every task, without a collection-group query (which the emulator cannot
        run, and which would need its own index): task by task, over the tasks that can have
        new events — those still running, and those that changed since the cursor's time (a
        minute of slack for clocks). Events of a task that does not exist are not included.
        Costs one query per such task: the local server's event hub is its only caller."""
        since = docs.id_floor(after) - timedelta(minutes=1)
        running = [s.value for s in Status if s not in TERMINAL]
        ids = {
            s.id
            for s in self._tasks()
            .where(filter=self._fs.FieldFilter("status", "in", running))
            .stream()
        }
        recent = self._tasks().where(filter=self._fs.FieldFilter("updated_at", ">=", since))
        ids.update(s.id for s in recent.stream())
        merged = sorted(
            (e for task_id in ids for e in self.read_events(task_id, after, limit)),
            key=lambda e: e.id,
        )
        cut = merged[:limit]
        while len(cut) < len(merged) and cut and merged[len(cut)].id == cut[-1].id:
            cut.append(merged[len(cut)])  # equal ids travel together
        return cut

    def latest_event_id(self) -> int:
        """Kept by the feed's listeners: no read once they are in sync (firestore_feed)."""
        return self._feed.latest()

    def wait_for_events(self, after: int, timeout_s: float) -> bool:
        return self._feed.wait(after, timeout_s)

    async def wait_for_events_async(self, after: int, timeout_s: float) -> bool:
        """Like `wait_for_events`, for asyncio code: no thread per waiter."""
        return await self._feed.wait_async(after, timeout_s)

    def close(self) -> None:
        self._feed.close()
        self._db.close()

    # ------------------------------------------------------------------------ helpers

    def _tasks(self) -> Any:
        return self._db.collection("tasks")

    @staticmethod
    def _task_fields(task: Task) -> dict[str, Any]:
        return {
            "version": task.version,
            "status": task.status.value,
            "owner": task.owner,
            "created_at": task.created_at,
            "updated_at": task.updated_at,
        }


def _unfinished(snapshots: list[Any]) -> bool:
    """Whether the newest event read is from the millisecond the read happened in: more events
    may still commit in it, with ids below the newest one's."""
    newest = max(s.get("at") for s in snapshots)
    return docs.millis(newest) >= docs.millis(snapshots[0].read_time)


def _event(snapshot: Any) -> Event:
    text = docs.read_text(snapshot, 0)
    if text is None:  # events are written once, with their parts, in one batch
        raise ConfigError(f"event {snapshot.reference.path} is missing parts of its data")
    return Event(
        id=docs.event_id(snapshot.get("at"), int(snapshot.get("tie"))),
        task_id=str(snapshot.get("task_id")),
        kind=EventKind(snapshot.get("kind")),
        data=json.loads(text),
        created_at=snapshot.get("created_at"),
    )


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")
