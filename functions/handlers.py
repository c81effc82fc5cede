"""Thin HTTP handlers: parse, call one service, serialise, map errors to status codes.

They take a Flask request plus the process's Deps, so the same code serves functions-framework
targets in the cloud and the local server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import flask

from functions import account_handlers as me
from functions import auth_handlers
from functions.access import allow_cors, authenticate, check_owner, cors_preflight
from functions.account_routes import ACCOUNT_ROUTES
from functions.broker_routes import BROKER_ROUTES
from functions.github_webhook import github_webhook
from functions.openapi import document_json
from functions.routes import NoRoute, Route, RouteTable, parse_fields, reply
from functions.schemas import (
    DispatchResult,
    Empty,
    EventsHeaders,
    EventsQuery,
    GitHubWebhookReply,
    Health,
    ListQuery,
    SweepResult,
    TaskListView,
    TaskView,
)
from shared import leasing, signing, sse
from shared.auth import Identity
from shared.domain import StageRequest, Task, TaskFilter, task_public
from shared.errors import ErrandError, QuotaExceeded
from shared.review import Retry, ReviewFeedback
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
    if request.method == "OPTIONS":
        return cors_preflight(request, deps)
    if request.path == "/" and "login" in request.args:
        return auth_handlers.login_link(request, deps)
    try:
        route, args = TABLE.match(request.method, request.path)
    except NoRoute as exc:
        code = "not_found" if exc.status == 404 else "method_not_allowed"
        response = error(exc.status, code, exc.message)
        if exc.allowed:
            response.headers["Allow"] = ", ".join(exc.allowed)
        return response
    found: Identity | None = None
    try:
        found = authenticate(request, deps, route, args)
        bodyless = not request.content_length and not request.headers.get("Transfer-Encoding")
        if route.body is not None and request.mimetype != "application/json" and not bodyless:
            # also what keeps cross-site forms out: they cannot send JSON without a preflight
            # (a POST with no body at all reads as `{}`: cookie sessions are CSRF-checked)
            response = error(
                415,
                "unsupported_media_type",
                f"{route.method} {request.path} takes a JSON body: send Content-Type: "
                "application/json (and `{}` when there is nothing to say)",
            )
        else:
            check_owner(deps, found, args)
            response = _call(request, deps, route, args)
    except QuotaExceeded as exc:
        response = error(exc.http_status, exc.code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        response.headers["X-Quota-Reset"] = exc.resets_at
    except ErrandError as exc:
        response = error(exc.http_status, exc.code, exc.message)
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
    for cookie in found.set_cookies if found else []:
        response.headers.add("Set-Cookie", cookie)
    allow_cors(request, deps, response)
    return response


def _call(
    request: flask.Request, deps: Deps, route: Route, args: Mapping[str, Any]
) -> flask.Response:
    try:
        kwargs = dict(args)
        if route.body is not None:
            kwargs["body"] = parse(route.body, request.get_data())
        if route.query is not None:
            kwargs["query"] = parse_fields(route.query, request.args.to_dict(), "query parameter")
        if route.headers is not None:
            kwargs["headers"] = parse_fields(route.headers, dict(request.headers.items()), "header")
        return reply(route, route.handler(request, deps, **kwargs))
    except ErrandError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error(
            500, "internal_error", "Errand hit an internal error; the server log has details"
        )


def _service(deps: Deps, request: flask.Request | None = None) -> TaskService:
    """Task use cases acting as the request's user."""
    return deps.task_service(me.identity(request).user if request else None)


def public(task: Task, deps: Deps, request: flask.Request) -> dict[str, Any]:
    """The task as the API shows it, its audio behind a short-lived signed URL."""
    body = task_public(task)
    if task.audio is None:
        return body
    origin = deps.settings.public_url or request.host_url.rstrip("/")
    for field in ("url", "captions_url"):  # both are fetched by the browser's <audio>/<track>
        url = getattr(task.audio, field)
        if url and urlsplit(url).path.startswith("/blobs/"):  # ours (cloud ones come signed)
            key = unquote(url.split("/blobs/", 1)[-1].split("?", 1)[0])
            body["audio"][field] = origin + signing.blob_path(deps.signing_key, key)
    if deps.settings.multi_user:  # the server's disk is not the users' business
        body["audio"]["path"] = ""
    return body


def health(request: flask.Request | None, deps: Deps) -> Health:
    return Health(status="ok")


def openapi(request: flask.Request, deps: Deps) -> flask.Response:
    return flask.Response(document_json(TABLE), mimetype="application/json")


def create(request: flask.Request, deps: Deps, body: CreateTask) -> dict[str, Any]:
    return public(_service(deps, request).create(body), deps, request)


def list_tasks(request: flask.Request, deps: Deps, query: ListQuery) -> dict[str, Any]:
    """`next_before` is the cursor of the next page, null on the last one."""
    where = TaskFilter(status=query.status, repo=query.repo, text=query.q, before=query.before)
    tasks = _service(deps, request).list(query.limit + 1, where, everyone=query.all).tasks
    page = tasks[: query.limit]
    more = len(tasks) > query.limit
    return {
        "tasks": [public(t, deps, request) for t in page],
        "next_before": page[-1].id if more else None,
    }


def show(request: flask.Request, deps: Deps, task_id: str) -> dict[str, Any]:
    return public(_service(deps, request).get(task_id), deps, request)


def approve_plan(
    request: flask.Request, deps: Deps, task_id: str, body: ApprovePlan
) -> dict[str, Any]:
    return public(_service(deps, request).approve_plan(task_id, body), deps, request)


def approve_diff(request: flask.Request, deps: Deps, task_id: str, body: Empty) -> dict[str, Any]:
    return public(_service(deps, request).approve_diff(task_id), deps, request)


def reject_plan(
    request: flask.Request, deps: Deps, task_id: str, body: ReviewFeedback
) -> dict[str, Any]:
    return public(_service(deps, request).reject_plan(task_id, body), deps, request)


def request_changes(
    request: flask.Request, deps: Deps, task_id: str, body: ReviewFeedback
) -> dict[str, Any]:
    return public(_service(deps, request).request_changes(task_id, body), deps, request)


def retry(request: flask.Request, deps: Deps, task_id: str, body: Retry) -> dict[str, Any]:
    return public(_service(deps, request).retry(task_id, body), deps, request)


def cancel(request: flask.Request, deps: Deps, task_id: str, body: Empty) -> dict[str, Any]:
    return public(_service(deps, request).cancel(task_id), deps, request)


def events(
    request: flask.Request,
    deps: Deps,
    task_id: str,
    query: EventsQuery,
    headers: EventsHeaders,
) -> flask.Response:
    """Blocking SSE for the functions deployment (one stream per request thread there); the
    local server serves this route asynchronously instead (shared/server.py). The task's
    owner was checked by `authenticate`."""
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
                if sse.ends_stream(event, deps.store):
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
            "List tasks, newest first, filtered and paged",
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
            "/api/tasks/<task_id>/plan/reject",
            reject_plan,
            "Reject the plan: the model plans again, seeing its plan and this feedback",
            body=ReviewFeedback,
            response=TaskView,
            errors=(400, 404, 409),
        ),
        Route(
            "POST",
            "/api/tasks/<task_id>/diff/request-changes",
            request_changes,
            "Send the diff back: a new execute round with this feedback, then verify again",
            body=ReviewFeedback,
            response=TaskView,
            errors=(400, 404, 409),
        ),
        Route(
            "POST",
            "/api/tasks/<task_id>/retry",
            retry,
            "Run a failed or cancelled task again, from where it stopped or from the start",
            body=Retry,
            response=TaskView,
            errors=(400, 404, 409),
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
            errors=(400, 404, 503),
            internal=True,
        ),
        Route(
            "POST",
            "/api/webhooks/github",
            github_webhook,
            "GitHub App webhook deliveries, authenticated by X-Hub-Signature-256 alone: 202 "
            "with the task created, or 200 with what was done, ignored or a duplicate",
            response=GitHubWebhookReply,
            status=202,
            errors=(400, 401, 413),
            public=True,
        ),
        Route(
            "POST",
            "/api/sweep",
            sweep,
            "Deliver again the stages whose execution died (a scheduled call)",
            body=Empty,
            response=SweepResult,
            errors=(404,),
            internal=True,
        ),
        *ACCOUNT_ROUTES,
        *BROKER_ROUTES,
    ]
)
