"""Thin HTTP handlers: parse, call one service, serialise, map errors to status codes.

They take a Flask request plus the process's Deps, so the same code serves functions-framework
targets in the cloud and the local server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import flask

from functions.openapi import document_json
from functions.routes import NoRoute, Route, RouteTable, parse_fields, reply
from functions.schemas import (
    DispatchResult,
    Empty,
    EventsHeaders,
    EventsQuery,
    Health,
    ListQuery,
    SweepResult,
    TaskListView,
    TaskView,
)
from shared import leasing, sse
from shared.domain import StageRequest, task_public
from shared.errors import ErrandError
from shared.services import ApprovePlan, CreateTask, TaskService, parse
from shared.wiring import Deps

log = logging.getLogger("errand.api")


def error(status: int, code: str, message: str) -> flask.Response:
    return flask.Response(
        json.dumps({"error": {"code": code, "message": message}}),
        status=status,
        mimetype="application/json",
    )


def ok(body: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def handle(request: flask.Request, deps: Deps) -> flask.Response:
    try:
        route, args = TABLE.match(request.method, request.path)
    except NoRoute as exc:
        code = "not_found" if exc.status == 404 else "method_not_allowed"
        response = error(exc.status, code, exc.message)
        if exc.allowed:
            response.headers["Allow"] = ", ".join(exc.allowed)
        return response
    if route.body is not None and request.mimetype != "application/json":
        # also what keeps cross-site forms out: they cannot send JSON without a preflight
        return error(
            415,
            "unsupported_media_type",
            f"{route.method} {request.path} takes a JSON body: send Content-Type: "
            "application/json (and `{}` when there is nothing to say)",
        )
    try:
        kwargs = dict(args)
        if route.body is not None:
            kwargs["body"] = parse(route.body, request.get_data())
        if route.query is not None:
            kwargs["query"] = parse_fields(route.query, request.args.to_dict(), "query parameter")
        if route.headers is not None:
            kwargs["headers"] = parse_fields(route.headers, dict(request.headers.items()), "header")
        return reply(route, route.handler(request, deps, **kwargs))
    except ErrandError as exc:
        return error(exc.http_status, exc.code, exc.message)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error(
            500, "internal_error", "Errand hit an internal error; the server log has details"
        )


def _service(deps: Deps) -> TaskService:
    return TaskService(deps.store, deps.queue, deps.settings.model)


def health(request: flask.Request | None, deps: Deps) -> Health:
    return Health(status="ok")


def openapi(request: flask.Request, deps: Deps) -> flask.Response:
    return flask.Response(document_json(TABLE), mimetype="application/json")


def create(request: flask.Request, deps: Deps, body: CreateTask) -> dict[str, Any]:
    return task_public(_service(deps).create(body))


def list_tasks(request: flask.Request, deps: Deps, query: ListQuery) -> dict[str, Any]:
    tasks = _service(deps).list(query.limit).tasks
    return {"tasks": [task_public(t) for t in tasks]}


def show(request: flask.Request, deps: Deps, task_id: str) -> dict[str, Any]:
    return task_public(_service(deps).get(task_id))


def approve_plan(
    request: flask.Request, deps: Deps, task_id: str, body: ApprovePlan
) -> dict[str, Any]:
    return task_public(_service(deps).approve_plan(task_id, body))


def approve_diff(request: flask.Request, deps: Deps, task_id: str, body: Empty) -> dict[str, Any]:
    return task_public(_service(deps).approve_diff(task_id))


def cancel(request: flask.Request, deps: Deps, task_id: str, body: Empty) -> dict[str, Any]:
    return task_public(_service(deps).cancel(task_id))


def events(
    request: flask.Request,
    deps: Deps,
    task_id: str,
    query: EventsQuery,
    headers: EventsHeaders,
) -> flask.Response:
    """Blocking SSE for the functions deployment (one stream per request thread there); the
    local server serves this route asynchronously instead (shared/server.py)."""
    deps.store.get_task(task_id)
    resumed = "last_event_id" in headers.model_fields_set
    cursor = headers.last_event_id if resumed else query.after

    def stream() -> Iterator[bytes]:
        nonlocal cursor
        yield sse.preamble()
        while True:
            seen = deps.store.latest_event_id()
            batch = deps.store.read_events(task_id, cursor, sse.BATCH)
            for event in batch:
                cursor = event.id
                yield sse.frame(event)
                if sse.ends_stream(event):
                    return
            if len(batch) < sse.BATCH and sse.finished(deps.store.get_task(task_id)):
                return
            if not deps.store.wait_for_events(seen, sse.HEARTBEAT_S):
                yield sse.heartbeat()

    return flask.Response(
        stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def dispatch(request: flask.Request, deps: Deps, body: StageRequest) -> flask.Response:
    """The queue's target: start the execution of one stage under the task's lease. A
    redelivery finds the lease held and does nothing; 503 asks the queue to retry later."""
    started = leasing.start_stage(deps, body)
    if started.retry:
        return error(503, "busy", f"{started.detail}; deliver it again later")
    result = DispatchResult(
        result=started.result, reason=started.detail, execution=started.execution
    )
    return ok(result.model_dump())


def sweep(request: flask.Request, deps: Deps, body: Empty) -> flask.Response:
    """Redelivers stages whose execution died (on a schedule in the cloud; the local server
    sweeps by itself)."""
    report = leasing.sweep(deps)
    return ok(
        SweepResult(
            redelivered=report.redelivered, failed=report.failed, released=report.released
        ).model_dump()
    )


# The API. To add a route: write its handler above and add one Route here (see
# functions/routes.py for the fields); routing and /api/openapi.json follow from this table.
TABLE = RouteTable(
    [
        Route("GET", "/api/health", health, "Liveness", response=Health, public=True),
        Route("GET", "/api/openapi.json", openapi, "This API's OpenAPI description", public=True),
        Route(
            "POST",
            "/api/tasks",
            create,
            "Create a task",
            body=CreateTask,
            response=TaskView,
            status=201,
            errors=(400,),
        ),
        Route(
            "GET",
            "/api/tasks",
            list_tasks,
            "List tasks, newest first",
            query=ListQuery,
            response=TaskListView,
            errors=(400,),
        ),
        Route("GET", "/api/tasks/<task_id>", show, "One task", response=TaskView, errors=(404,)),
        Route(
            "POST",
            "/api/tasks/<task_id>/plan/approve",
            approve_plan,
            "Approve the plan, as proposed or edited",
            body=ApprovePlan,
            response=TaskView,
            errors=(400, 404, 409),
        ),
        Route(
            "POST",
            "/api/tasks/<task_id>/diff/approve",
            approve_diff,
            "Approve the diff: publish it",
            body=Empty,
            response=TaskView,
            errors=(404, 409),
        ),
        Route(
            "POST",
            "/api/tasks/<task_id>/cancel",
            cancel,
            "Cancel a running task",
            body=Empty,
            response=TaskView,
            errors=(404, 409),
        ),
        Route(
            "GET",
            "/api/tasks/<task_id>/events",
            events,
            "The task's events as Server-Sent Events; ends after the terminal status",
            query=EventsQuery,
            headers=EventsHeaders,
            stream=True,
            errors=(400, 404),
        ),
        Route(
            "POST",
            "/api/dispatch",
            dispatch,
            "Queue target: start one stage's job",
            body=StageRequest,
            response=DispatchResult,
            errors=(400, 503),
        ),
        Route(
            "POST",
            "/api/sweep",
            sweep,
            "Deliver again the stages whose execution died (a scheduled call)",
            body=Empty,
            response=SweepResult,
        ),
    ]
)
