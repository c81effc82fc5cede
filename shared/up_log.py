"""What `errand up` says about tasks: one log line per status change, read from the store's
event log on a background thread."""

from __future__ import annotations

import logging
import threading

from shared.domain import EventKind
from shared.ports import Store

log = logging.getLogger("errand.tasks")


class TaskLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="errand-task-log", daemon=True)

    def start(self) -> None:
        self._cursor = self._store.latest_event_id()  # from now on: no replay of old tasks
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            seen = self._store.latest_event_id()
            for event in self._store.read_events(None, self._cursor):
                self._cursor = event.id
                if event.kind != EventKind.STATUS:
                    continue
                d = event.data
                error = d.get("error")
                why = f": {error.get('message')}" if isinstance(error, dict) else ""
                log.info("%s %s%s", event.task_id, d.get("status"), why)
            self._store.wait_for_events(seen, 1.0)
