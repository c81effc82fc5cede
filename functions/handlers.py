"""Thin HTTP handlers: parse, call one service, serialise, map errors to status codes.

They take a Flask request plus the process's Deps, so the same code serves functions-framework
targets in the cloud and the local server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import flask
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule

from functions import account_handlers, auth_handlers
from shared import signing, sse
from shared.auth import Identity
from shared.domain import StageRequest, Task, is_due, task_public
from shared.errors import Conflict, ErrandError, InvalidInput, NotFound, QuotaExceeded
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
        Rule("/api/me", methods=["GET"], endpoint="me"),
        Rule("/api/me/keys", methods=["GET"], endpoint="keys_list"),
        Rule("/api/me/keys/<provider>", methods=["PUT"], endpoint="key_put"),
        Rule("/api/me/keys/<provider>", methods=["DELETE"], endpoint="key_delete"),
        Rule("/api/me/usage", methods=["GET"], endpoint="usage"),
        Rule("/api/me/repos", methods=["GET"], endpoint="repos"),
        Rule("/api/me/tokens", methods=["GET"], endpoint="tokens_list"),
        Rule("/api/me/tokens", methods=["POST"], endpoint="token_create"),
        Rule("/api/me/tokens/<token_id>", methods=["DELETE"], endpoint="token_revoke"),
        Rule("/api/repos/<path:full_name>/branches", methods=["GET"], endpoint="branches"),
        Rule("/api/session/logout", methods=["POST"], endpoint="logout"),
        Rule("/api/users/<login>/limits", methods=["PUT"], endpoint="user_limits"),
        Rule("/auth/github/login", methods=["GET"], endpoint="github_login"),
        Rule("/auth/github/callback", methods=["GET"], endpoint="github_callback"),
    ],
    merge_slashes=False,
)
# answered without a user: the health check and the sign-in flow (webhooks authenticate by
# their signature); dispatch takes only the server's internal token
PUBLIC = frozenset({"health", "github_login", "github_callback"})
INTERNAL = frozenset({"dispatch"})


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
        endpoint, args = ROUTES.bind("", path_info=request.path).match(request.path, request.method)
    except RouteNotFound:
        return error(404, "not_found", f"no route {request.method} {request.path}")
    except MethodNotAllowed:
        return error(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.path}"
        )
    found: Identity | None = None
    try:
        found = authenticate(request, deps, str(endpoint), args)
        response: flask.Response = _ENDPOINTS[str(endpoint)](request, deps, **args)
    except QuotaExceeded as exc:
        response = error(exc.http_status, exc.code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        response.headers["X-Quota-Reset"] = exc.resets_at
    except ErrandError as exc:
        response = error(exc.http_status, exc.code, exc.message)
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="errand"'
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = error(
            500, "internal_error", "Errand hit an internal error; the server log has details"
        )
    for cookie in found.set_cookies if found else []:
        response.headers.add("Set-Cookie", cookie)
    allow_cors(request, deps, response)
    return response


def origins(request: flask.Request, deps: Deps) -> set[str]:
    """The browser origins that are this server (for the CSRF Origin check)."""
    s = deps.settings
    own = {f"http://{request.host}", f"https://{request.host}", *s.cors_origins}
    return own | ({s.public_url} if s.public_url else set())


def authenticate(
    request: flask.Request, deps: Deps, endpoint: str, args: Mapping[str, Any]
) -> Identity | None:
    """Who calls (401/403 otherwise); another user's task ids answer 404 on every route that
    names one, whoever wrote the handler."""
    if endpoint in PUBLIC:
        return None
    headers = {k.lower(): v for k, v in request.headers.items()}
    if endpoint in INTERNAL:
        if not deps.auth.is_internal(headers):
            raise NotFound(f"no route {request.method} {request.path}")
        return None
    found = deps.auth.identify(request.method, headers, origins(request, deps))
    request.environ[account_handlers.IDENTITY] = found
    if "task_id" in args:
        deps.task_service(found.user).get(str(args["task_id"]))
    return found


def cors_preflight(request: flask.Request, deps: Deps) -> flask.Response:
    response = flask.Response(status=204)
    if allow_cors(request, deps, response):
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        response.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, X-CSRF-Token, Last-Event-ID"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def allow_cors(request: flask.Request, deps: Deps, response: flask.Response) -> bool:
    """CORS only for the origins the operator configured (ERRAND_CORS_ORIGINS)."""
    origin = request.headers.get("Origin", "").rstrip("/")
    if not origin or origin not in deps.settings.cors_origins:
        return False
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers.add("Vary", "Origin")
    return True


def _service(deps: Deps, request: flask.Request | None = None) -> TaskService:
    """Task use cases acting as the request's user."""
    return deps.task_service(account_handlers.identity(request).user if request else None)


def public(task: Task, deps: Deps, request: flask.Request) -> dict[str, Any]:
    """The task as the API shows it, its audio behind a short-lived signed URL."""
    body = task_public(task)
    if task.audio is not None and task.audio.url:
        key = unquote(task.audio.url.split("/blobs/", 1)[-1].split("?", 1)[0])
        origin = deps.settings.public_url or request.host_url.rstrip("/")
        body["audio"]["url"] = origin + signing.blob_path(deps.signing_key, key)
        if deps.settings.multi_user:  # the server's disk is not the users' business
            body["audio"]["path"] = ""
    return body


def health(request: flask.Request, deps: Deps) -> flask.Response:
    return ok({"status": "ok"})


def create(request: flask.Request, deps: Deps) -> flask.Response:
    req = parse(CreateTask, request.get_data())
    return ok(public(_service(deps, request).create(req), deps, request), 201)


def list_tasks(request: flask.Request, deps: Deps) -> flask.Response:
    try:
        limit = min(500, max(1, int(request.args.get("limit", "50"))))
    except ValueError:
        raise InvalidInput("limit must be a whole number between 1 and 500") from None
    everyone = request.args.get("all", "") in ("1", "true")
    tasks = _service(deps, request).list(limit, everyone=everyone).tasks
    return ok({"tasks": [public(t, deps, request) for t in tasks]})


def show(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    return ok(public(_service(deps, request).get(task_id), deps, request))


def approve_plan(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    req = parse(ApprovePlan, request.get_data())
    return ok(public(_service(deps, request).approve_plan(task_id, req), deps, request))


def approve_diff(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    return ok(public(_service(deps, request).approve_diff(task_id), deps, request))


def cancel(request: flask.Request, deps: Deps, task_id: str) -> flask.Response:
    return ok(public(_service(deps, request).cancel(task_id), deps, request))


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
    """The queue's target: start the job for one stage, at most once per delivery name."""
    req = parse(StageRequest, request.get_data())
    try:
        task = deps.store.get_task(req.task_id)
    except NotFound:
        return ok({"result": "dropped", "reason": f"task {req.task_id} does not exist"})
    if not is_due(req, task):
        return ok({"result": "stale", "status": task.status.value})
    name = req.delivery_name()
    if task.claim == name:
        return ok({"result": "already_started"})
    try:
        deps.store.update_task(task.model_copy(update={"claim": name}))
    except Conflict:
        return error(409, "conflict", "the task changed while claiming it; retry")
    try:
        execution = deps.jobs.run(req)
    except Exception:
        # unclaim so that the queue's retry can start it; any failure, not only ours
        current = deps.store.get_task(req.task_id)
        if current.claim == name:
            deps.store.update_task(current.model_copy(update={"claim": ""}))
        raise
    return ok({"result": "started", "execution": execution})


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
    "me": account_handlers.me,
    "keys_list": account_handlers.keys_list,
    "key_put": account_handlers.key_put,
    "key_delete": account_handlers.key_delete,
    "usage": account_handlers.usage,
    "repos": account_handlers.repos,
    "branches": account_handlers.branches,
    "tokens_list": account_handlers.tokens_list,
    "token_create": account_handlers.token_create,
    "token_revoke": account_handlers.token_revoke,
    "logout": account_handlers.logout,
    "user_limits": account_handlers.user_limits,
    "github_login": auth_handlers.github_login,
    "github_callback": auth_handlers.github_callback,
}
