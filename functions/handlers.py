"""Thin HTTP handlers: parse, call one service, serialise, map errors to status codes.

They take a Flask request plus the process's Deps, so the same code serves functions-framework
targets in the cloud and the local server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import flask
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule

from shared import leasing, sse
from shared.domain import StageRequest, task_public
from shared.errors import ErrandError, InvalidInput
from shared.services import ApprovePlan, CreateTask, TaskService, parse
from shared.wiring import Deps

log = logging.getLogger("errand.api")

ROUTES = Map(
    [
        Rule("/api/health", methods=["GET"], endpoint="health"),
        Rule("/api/tasks", methods=["POST"], endpoint="create"),
        Rule("/api/tasks", methods=["GET"], endpoint="list"),
        Rule("/api/tasks/<task_id>", methods=["GET"], endpoint="show"),
        Rule("/api/tasks/<task_id>/plan/approve", methods=["POST"], endpoint="approve_plan"),
        Rule("/api/tasks/<task_id>/diff/approve", methods=["POST"], endpoint="approve_diff"),
        Rule("/api/tasks/<task_id>/cancel", methods=["POST"], endpoint="cancel"),
        Rule("/api/tasks/<task_id>/events", methods=["GET"], endpoint="events"),
        Rule("/api/dispatch", methods=["POST"], endpoint="dispatch"),
        Rule("/api/sweep", methods=["POST"], endpoint="sweep"),
    ]
)


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
        endpoint, args = ROUTES.bind("", path_info=request.path).match(request.path, request.method)
    except RouteNotFound:
        return error(404, "not_found", f"no route {request.method} {request.path}")
    except MethodNotAllowed:
        return error(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.path}"
        )
    try:
        response: flask.Response = _ENDPOINTS[str(endpoint)](request, deps, **args)
        return response
    except ErrandError as exc:
        return error(exc.http_status, exc.code, exc.message)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error(
            500, "internal_error", "Errand hit an internal error; the server log has details"
        )


def _service(deps: Deps) -> TaskService:
    return TaskService(deps.store, deps.queue, deps.settings.model)


def health(request: flask.Request, deps: Deps) -> flask.Response:
    return ok({"status": "ok"})


def create(request: flask.Request, deps: Deps) -> flask.Response:
    req = parse(CreateTask, request.get_data())
    return ok(task_public(_service(deps).create(req)), 201)


def list_tasks(request: flask.Request, deps: Deps) -> flask.Response:
    try:
        limit = min(500, max(1, int(request.args.get("limit", "50"))))
    except ValueError:
        raise InvalidInput("limit must be a whole number between 1 and 500") from None
    tasks = _service(deps).list(limit).tasks
    return ok({"tasks": [task_public(t) for t in tasks]})


def show(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    return ok(task_public(_service(deps).get(task_id)))


def approve_plan(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    req = parse(ApprovePlan, request.get_data())
    return ok(task_public(_service(deps).approve_plan(task_id, req)))


def approve_diff(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    return ok(task_public(_service(deps).approve_diff(task_id)))


def cancel(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    return ok(task_public(_service(deps).cancel(task_id)))


def events(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    """Blocking SSE for the functions deployment (one stream per request thread there); the
    local server serves this route asynchronously instead (shared/server.py)."""
    deps.store.get_task(task_id)
    cursor = sse.parse_cursor(request.headers.get("Last-Event-ID"), request.args.get("after"))

    def stream() -> Iterator[bytes]:
        nonlocal cursor
        yield sse.preamble()
        while True:
            seen = deps.store.latest_event_id()
            for event in deps.store.read_events(task_id, cursor):
                cursor = event.id
                yield sse.frame(event)
                if sse.ends_stream(event):
                    return
            if not deps.store.wait_for_events(seen, sse.HEARTBEAT_S):
                yield sse.heartbeat()

    return flask.Response(
        stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def dispatch(request: flask.Request, deps: Deps) -> flask.Response:
    """The queue's target: start the execution of one stage under the task's lease. A
    redelivery finds the lease held and does nothing; `busy` asks the queue to retry later."""
    started = leasing.start_stage(deps, parse(StageRequest, request.get_data()))
    body = {"result": started.result, "detail": started.detail, "execution": started.execution}
    return ok(body, 503 if started.retry else 200)


def sweep(request: flask.Request, deps: Deps) -> flask.Response:
    """Redelivers stages whose execution died (called on a schedule in the cloud; the local
    server sweeps by itself)."""
    report = leasing.sweep(deps)
    return ok(
        {"redelivered": report.redelivered, "failed": report.failed, "released": report.released}
    )


_ENDPOINTS: dict[str, Any] = {
    "health": health,
    "create": create,
    "list": list_tasks,
    "show": show,
    "approve_plan": approve_plan,
    "approve_diff": approve_diff,
    "cancel": cancel,
    "events": events,
    "dispatch": dispatch,
    "sweep": sweep,
}
