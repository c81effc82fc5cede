"""Task listing on Firestore, kept apart from the store's core.

Listing filters on the indexed fields (owner, status) in the query and on the rest (repository,
prompt text, the page cursor) in memory, reading in pages until `limit` tasks match. Quotas are
claims of their own (firestore_quota)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from shared.domain import Task, TaskFilter
from shared.errors import InvalidInput

_PAGE = 200


def _field(field: str, op: str, value: object) -> Any:
    from google.cloud.firestore import FieldFilter as sdk_filter  # the SDK loads lazily

    return sdk_filter(field, op, value)


def listed(
    collection: Any,
    read: Callable[[Any], Task],
    limit: int,
    where: TaskFilter,
    owner: str | None,
) -> list[Task]:
    found: list[Task] = []
    passed_cursor = not where.before
    for task in _newest_first(collection, read, owner, where):
        if not passed_cursor:
            passed_cursor = task.id == where.before
            continue
        if where.matches(task):
            found.append(task)
            if len(found) == limit:
                break
    if not passed_cursor:
        raise InvalidInput(
            f"before={where.before!r} names no task; pass the id of the last task of the "
            "previous page"
        )
    return found


def _newest_first(
    collection: Any, read: Callable[[Any], Task], owner: str | None, where: TaskFilter
) -> Iterator[Task]:
    query = collection
    if owner is not None:
        query = query.where(filter=_field("owner", "==", owner))
    if where.status is not None:
        query = query.where(filter=_field("status", "==", where.status.value))
    query = query.order_by("created_at", direction="DESCENDING")
    last = None
    while True:
        page = query.limit(_PAGE) if last is None else query.start_after(last).limit(_PAGE)
        snapshots = list(page.stream())
        for snapshot in snapshots:
            yield read(snapshot)
        if len(snapshots) < _PAGE:
            return
        last = snapshots[-1]
