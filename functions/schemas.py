"""Request and response models of the HTTP API that are not domain types themselves. The
route table (functions/handlers.py) names them; the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from shared.domain import TASK_INTERNAL_FIELDS, Model, Task
from shared.sse import MAX_CURSOR


class Health(Model):
    status: str


class Empty(Model):
    """The body of a POST that needs no input: `{}` (POSTs are JSON, see shared/server.py)."""


class ErrorDetail(Model):
    code: str = Field(description="stable, machine-readable")
    message: str = Field(description="what was wrong and what to do")


class ErrorBody(Model):
    """Every error the API answers on purpose has this shape."""

    error: ErrorDetail


def _drop_internal(schema: dict[str, Any]) -> None:
    properties = schema.get("properties", {})
    for name in TASK_INTERNAL_FIELDS:
        properties.pop(name, None)
    if "required" in schema:
        schema["required"] = [n for n in schema["required"] if n not in TASK_INTERNAL_FIELDS]


class TaskView(Task):
    """A task as the API shows it: `shared.domain.task_public`, internal bookkeeping left out
    (the document leaves those fields out; handlers serialise with `task_public`)."""

    model_config = ConfigDict(extra="forbid", title="Task", json_schema_extra=_drop_internal)


class TaskListView(Model):
    tasks: list[TaskView]


class ListQuery(Model):
    limit: int = Field(default=50, ge=1, le=500, description="how many tasks, newest first")


class EventsQuery(Model):
    after: int = Field(
        default=0, ge=0, le=MAX_CURSOR, description="send the events after this event id"
    )


class EventsHeaders(Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    last_event_id: int = Field(
        default=0,
        alias="Last-Event-ID",
        ge=0,
        le=MAX_CURSOR,
        description="set by EventSource on reconnect; wins over `after`",
    )


class SweepResult(Model):
    redelivered: list[str] = Field(description="tasks whose stage was delivered again")
    failed: list[str] = Field(description="tasks failed: their stage's attempts were spent")
    released: list[str] = Field(description="ended tasks whose lease and workspace were freed")


class DispatchResult(Model):
    result: str = Field(
        description="started, already_started, stale, dropped, failed, or busy (503: retry)"
    )
    reason: str = ""
    status: str = ""
    execution: str = ""
